"""Who may call what on the dev platform, and the demo purpose and people `dev up` seeds. Each client
is named by its certificate's common name (the CA under the run directory's pki/ issues them)."""

DEMO_PURPOSE = "demo-gate-access"
DEMO_SUBJECTS = ["demo-mei", "demo-tom"]
CONSENT = "consentry.consent.v1.ConsentService"
KEYVAULT = "consentry.keyvault.v1.KeyVaultService"
AUDIT = "consentry.audit.v1.AuditService"
DSR = "consentry.dsr.v1.DsrService"
EVENTS = "consentry.events.v1.EventService"  # served by every producer: consent, keyvault, dsr
# Which client (certificate CN) may call which RPCs, for which purposes. One file serves every
# service: each only sees calls to its own RPCs.
POLICY = f"""[clients.admin]
rpcs = ["*"]
purposes = ["*"]

[clients.demo-gate]
rpcs = ["{CONSENT}/GetPurpose", "{CONSENT}/ListPurposes", "{CONSENT}/GrantConsent", "{CONSENT}/CheckConsent", "{CONSENT}/CheckConsents",
        "{CONSENT}/WithdrawConsent", "{CONSENT}/ListConsents", "{CONSENT}/GetConsentHistory", "{CONSENT}/GetConsentAsOf",
        "{CONSENT}/RecordInteraction", "{CONSENT}/GetReceiptKey", "{CONSENT}/RenderReceipt",
        "{KEYVAULT}/EnsureSubjectKey", "{KEYVAULT}/GenerateDataKey", "{KEYVAULT}/DecryptDataKey",
        "{KEYVAULT}/Encrypt", "{KEYVAULT}/Decrypt", "{KEYVAULT}/GetKeyStatus", "{AUDIT}/Append",
        "{DSR}/RegisterProcessor", "{DSR}/ConfirmTasks"]
purposes = ["{DEMO_PURPOSE}"]

[clients.keyvault]
rpcs = ["{CONSENT}/CheckConsent", "{CONSENT}/CheckConsents"]
purposes = ["*"]

[clients.audit]
rpcs = ["{KEYVAULT}/GetSubjectRefs", "{EVENTS}/OpenEvents"]
purposes = []

[clients.dsr]
rpcs = ["{CONSENT}/EraseSubject", "{CONSENT}/ListConsents", "{CONSENT}/GetConsentHistory", "{CONSENT}/GetPurpose",
        "{KEYVAULT}/ShredSubjectKey", "{KEYVAULT}/RetirePurposeKeys", "{KEYVAULT}/GetKeyStatus", "{AUDIT}/QueryEvents",
        "{EVENTS}/OpenEvents"]
purposes = ["*"]

[clients.dpo]
rpcs = ["{AUDIT}/GetCheckpoint", "{AUDIT}/GetPublicKey", "{AUDIT}/GetInclusionProof", "{AUDIT}/GetConsistencyProof",
        "{AUDIT}/QueryEvents", "{AUDIT}/ExportEvents", "{AUDIT}/VerifyLog", "{AUDIT}/GetCompleteness",
        "{KEYVAULT}/VerifyCertificate"]
purposes = []
"""

