"""ECS error codes the emulated operations answer: (HTTP status, message), from the 2014-05-26 metadata."""

from __future__ import annotations

from chaos.emulator.errors import ApiError

ECS_ERRORS: dict[str, tuple[int, str]] = {
    "InvalidInstanceId.NotFound": (404, "The specified InstanceId does not exist."),
    "InvalidDiskId.NotFound": (404, "The specified disk does not exist."),
    "IncorrectInstanceStatus": (403, "The current status of the resource does not support this operation."),
    "IncorrectDiskStatus": (403, "The current disk status does not support this operation."),
    "ResourcesNotInSameZone": (403, "The specified instance and disk are not in the same zone."),
    "InvalidDisk.InUse": (404, "The specified disk has been occupied."),
    "InvalidDisk.DiskNotBootable": (400, "The specified disk is not a system disk."),
    "InvalidDisk.AlreadyDetached": (404, "The specified disk has been detached."),
    "DependencyViolation": (403, "The specified disk has not been attached on the specified instance."),
    "InvalidParameter.TooManyInstanceIds": (403, "Instance ids cannot be more than 100."),
    "InvalidDiskIds.Malformed": (403, "The specified parameter DiskIds is not valid."),
    "InvalidInstanceIds.Malformed": (400, "The specified parameter InstanceIds is not valid."),
    "InvalidStatus.ValueNotSupported": (400, "The specified Status is not supported."),
    "InvalidParameter": (400, "The specified parameter %s is not valid."),
    "DRYRUN.SUCCESS": (400, "This request is a dryrun request with successful result."),
}


def ecs_error(code: str, arg: str = "", *, status: int | None = None) -> ApiError:
    """``ecs_error("IncorrectInstanceStatus", status=400)``: AttachDisk answers it with 400, others 403."""
    default, template = ECS_ERRORS[code]
    message = template % arg if "%s" in template else template
    return ApiError(code=code, status=status or default, message=message)
