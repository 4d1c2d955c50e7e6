-- Where staff sign in at the organisation's identity provider: the subject (the ID token's "sub") each
-- account is bound to. A name a person can change at the provider never picks the account.
ALTER TABLE staff_accounts ADD COLUMN oidc_subject text UNIQUE;
