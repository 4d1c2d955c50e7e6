"""The dsr section: deletion requests end to end with two reference face gates as processors
(section.py), on a platform of its own as `consentry dev up` runs it (stack.py); the set-up (setup.py),
the operator's calls (calls.py) and rounds (rounds.py) in the generator; the gate on a plaintext broker
(plain_gate.py); its table (table.py)."""
