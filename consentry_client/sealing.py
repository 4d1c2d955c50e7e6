"""An access task's result crosses the broker sealed: AES-256-GCM under the task's own key, which
only dsr and the task's processor (through ConfirmTasks) hold. Messages on a topic cannot be edited;
dsr drops the key when it forgets the request, and the copy on the broker opens to nobody."""

import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE = 12


def _associated_data(task_id: str) -> bytes:
    return f"consentry/task-result/v1\x1f{task_id}".encode()


def seal_result(key: bytes, task_id: str, data: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(key).encrypt(nonce, data, _associated_data(task_id))


def open_result(key: bytes, task_id: str, sealed: bytes) -> bytes:
    """cryptography's InvalidTag when it was not sealed under this key for this task."""
    return AESGCM(key).decrypt(sealed[:_NONCE], sealed[_NONCE:], _associated_data(task_id))
