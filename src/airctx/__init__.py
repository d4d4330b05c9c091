"""airctx: context-aware recommendations on Amazon Personalize, or on the embedded
local Personalize engine when no AWS account is at hand."""

__version__ = "0.1.0"
