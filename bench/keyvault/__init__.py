"""The keyvault section: data-key releases, bulk key creation and shredding per key backend, each
beside the raw Vault transit call it is built on (section.py); what the generator is asked for and
reports (spec.py), the keyvault's calls (calls.py) and the raw transit calls (transit.py)."""
