"""Every error a user can cause, under one base class: the CLI and sweep scripts print one line and exit 2."""


class UserError(Exception):
    """Bad input, missing files or an unreachable service; the message says what to fix."""


class ConfigError(UserError, ValueError):
    """A config key or value, a command-line argument or a search space that cannot be used."""


class DataNotFoundError(UserError):
    """MNIST is absent and could not be downloaded."""


class InceptionWeightsError(UserError):
    """The FID Inception weights are absent and could not be downloaded."""


class DeviceError(UserError):
    """A device was asked for that this machine does not have."""


class CheckpointError(UserError):
    """A checkpoint that is missing, unreadable, or not the kind the caller needs."""


class TrackingUnavailableError(UserError):
    """The MLflow tracking server cannot be reached; nothing has been trained yet."""


class ModelNotFoundError(UserError, LookupError):
    """No experiment, finished run or fitted sampler matches the request."""


class StorageError(UserError, OSError):
    """A write to disk failed (no space left, read-only, quota); the message names the path, and what it replaced is kept."""
