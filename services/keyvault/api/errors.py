"""The one table from keyvault errors to gRPC status codes."""

import grpc

from services.common.error_table import error_table
from services.keyvault.domain import errors

status_for = error_table([
    (errors.ConsentDenied, grpc.StatusCode.PERMISSION_DENIED),
    (errors.ConsentUnreachable, grpc.StatusCode.UNAVAILABLE),
    (errors.DeviceStorageOnly, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.SubjectErased, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.NoSubjectKey, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.NoKek, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.KekNotProvisioned, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.ControllerOffboarded, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.DefaultControllerStays, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.KeyGenerationRetired, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.ConsentChanged, grpc.StatusCode.ABORTED),
    (errors.WrongKeyMaterial, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.VaultUnavailable, grpc.StatusCode.UNAVAILABLE),
    (errors.WrappedKeyUnusable, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.VaultRefused, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.ShredContended, grpc.StatusCode.ABORTED),
], "key store")
