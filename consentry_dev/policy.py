"""Who may call what on the dev platform, and the demo purpose and people `dev up` seeds. Each client
is named by its certificate's common name (the CA under the run directory's pki/ issues them)."""

DEMO_PURPOSE = "demo-gate-access"
DEMO_SUBJECTS = ["demo-mei", "demo-tom"]
CONSENT = "consentry.consent.v1.ConsentService"
KEYVAULT = "consentry.keyvault.v1.KeyVaultService"
AUDIT = "consentry.audit.v1.AuditService"
DSR = "consentry.dsr.v1.DsrService"
PORTAL = "consentry.portal.v1.PortalService"
PORTAL_ADMIN = "consentry.portal.v1.PortalAdminService"
# The operators' actions, each beside its service on the same server. "*" never reaches them: only
# their own names do (services/common/auth.py), so a grant meant for a face system cannot erase.
CONSENT_ADMIN = "consentry.consent.v1.ConsentAdminService"
KEYVAULT_ADMIN = "consentry.keyvault.v1.KeyVaultAdminService"
DSR_ADMIN = "consentry.dsr.v1.DsrAdminService"
EVENTS = "consentry.events.v1.EventService"  # served by every producer: consent, keyvault, dsr
DEMO_CONTROLLER = "acme-campus"  # the demo purpose's controller (seed.py)
# Which client (certificate CN) may call which RPCs, for which purposes, and for whom: each client acts
# for one controller (`controller`) or is one of the platform's own (`operator = true`). One file serves
# every service: each only sees calls to its own RPCs.
POLICY = f"""# "*" is every RPC of every service except the admin services (erasure, shredding, KEK rotation,
# deregistering a processor): those only by their own names, "<AdminService>/<Method>" or "/*".
# A client acts for exactly one controller, or is an operator of the platform: never neither, never both.
[clients.admin]
operator = true
rpcs = ["*", "{CONSENT_ADMIN}/*", "{KEYVAULT_ADMIN}/*", "{DSR_ADMIN}/*", "{PORTAL_ADMIN}/*"]
purposes = ["*"]

[clients.demo-gate]
controller = "{DEMO_CONTROLLER}"
rpcs = ["{CONSENT}/GetPurpose", "{CONSENT}/ListPurposes", "{CONSENT}/GrantConsent", "{CONSENT}/CheckConsent", "{CONSENT}/CheckConsents",
        "{CONSENT}/WithdrawConsent", "{CONSENT}/ListConsents", "{CONSENT}/GetConsentHistory", "{CONSENT}/GetConsentAsOf",
        "{CONSENT}/RecordInteraction", "{CONSENT}/GetReceiptKey", "{CONSENT}/RenderReceipt", "{CONSENT}/IssueReceipt",
        "{CONSENT}/GetController", "{KEYVAULT}/EnsureSubjectKey", "{KEYVAULT}/GenerateDataKey", "{KEYVAULT}/DecryptDataKey",
        "{CONSENT}/WatchConsents", "{KEYVAULT}/WatchKeys", "{KEYVAULT}/RecordReleases", "{KEYVAULT}/Encrypt", "{KEYVAULT}/Decrypt", "{KEYVAULT}/GetKeyStatus", "{AUDIT}/Append",
        "{DSR}/RegisterProcessor", "{DSR}/ConfirmTasks", "{PORTAL}/CreateSignInLink", "{PORTAL}/RegisterContact"]
purposes = ["{DEMO_PURPOSE}"]

[clients.keyvault]
operator = true
rpcs = ["{CONSENT}/CheckConsent", "{CONSENT}/CheckConsents", "{CONSENT}/GetController"]
purposes = ["*"]

[clients.audit]
operator = true
rpcs = ["{KEYVAULT}/GetSubjectRefs", "{EVENTS}/OpenEvents"]
purposes = []

[clients.dsr]
operator = true
rpcs = ["{CONSENT_ADMIN}/EraseSubject", "{CONSENT}/ListConsents", "{CONSENT}/GetConsentHistory", "{CONSENT}/GetPurpose",
        "{KEYVAULT_ADMIN}/ShredSubjectKey", "{KEYVAULT}/RetirePurposeKeys", "{KEYVAULT}/GetKeyStatus", "{AUDIT}/QueryEvents",
        "{EVENTS}/OpenEvents", "{PORTAL_ADMIN}/ForgetSubject"]
purposes = ["*"]

# The people's portal, for every controller's people: it reads purposes and a person's consents, grants
# and withdraws them, and files and follows the person's requests, naming their controller each time.
[clients.portal]
operator = true
verifies_identity = true  # it signs people in: the requests it files are verified on receipt
rpcs = ["{CONSENT}/GetController", "{CONSENT}/ListPurposes", "{CONSENT}/GetPurpose", "{CONSENT}/ListConsents",
        "{CONSENT}/GrantConsent", "{CONSENT}/WithdrawConsent", "{CONSENT}/IssueReceipt", "{CONSENT}/RenderReceipt",
        "{CONSENT}/GetReceiptKey", "{DSR}/SubmitRequest", "{DSR}/ListRequests", "{DSR}/GetExport"]
purposes = ["*"]

# The console for the platform's staff (in the portal's web application): it reads and decides requests
# and reads the audit log, for whichever controller the signed-in person works in, and records in the
# log, before each change, who made it.
[clients.console]
operator = true
records_staff_actions = true
purposes = ["*"]
rpcs = ["{CONSENT}/GetController", "{CONSENT}/ListPurposes", "{CONSENT}/GetPurpose", "{CONSENT}/RegisterPurpose",
        "{CONSENT}/PublishNotice", "{CONSENT}/GetFilingStatus", "{DSR}/ListRequests", "{DSR}/GetRequest",
        "{DSR}/VerifyIdentity", "{DSR}/AcknowledgeRequest", "{DSR}/ExtendDeadline", "{DSR}/RejectRequest",
        "{DSR}/GetExport", "{DSR}/ReleaseExport", "{DSR}/ListProcessors",
        "{AUDIT}/Append", "{AUDIT}/GetCheckpoint", "{AUDIT}/GetPublicKey", "{AUDIT}/GetInclusionProof",
        "{AUDIT}/QueryEvents", "{AUDIT}/ExportEvents", "{AUDIT}/GetCompleteness"]

[clients.dpo]
operator = true
rpcs = ["{AUDIT}/GetCheckpoint", "{AUDIT}/GetPublicKey", "{AUDIT}/GetInclusionProof", "{AUDIT}/GetConsistencyProof",
        "{AUDIT}/QueryEvents", "{AUDIT}/ExportEvents", "{AUDIT}/VerifyLog", "{AUDIT}/GetCompleteness",
        "{KEYVAULT}/VerifyCertificate"]
purposes = []
"""

