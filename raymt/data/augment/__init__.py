"""Source-side data augmentation: a registry of operators and the ratio logic.

Importing this package registers the built-in operators; a new operator is one module with
a ``@register_operator`` class, imported here.
"""

from raymt.data.augment import back_translation, random_insertion, word_dropout, word_shuffle  # noqa: F401  (registers)
from raymt.data.augment.base import AugmentOperator, WordOperator, available_operators, get_operator, register_operator
from raymt.data.augment.ratio import apply_augmentations, apply_ratio, augmented_pairs

__all__ = [
    "AugmentOperator",
    "apply_augmentations",
    "apply_ratio",
    "augmented_pairs",
    "available_operators",
    "get_operator",
    "register_operator",
    "WordOperator",
]
