"""Provider API keys: the provider contract plugins register, and the encrypted store."""

from finetune_core.keys.cipher import KeyCipher, mask_key
from finetune_core.keys.provider import ProviderSpec

__all__ = ["KeyCipher", "ProviderSpec", "mask_key"]
