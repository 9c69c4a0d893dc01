"""Prompt tuning: initialisations, one prompt block for seq2seq, and its param checks."""

from __future__ import annotations

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from method_helpers import make_base, tiny_config
from raymt.errors import ConfigError
from raymt.methods import get_method

WORDS = {f"w{i}": i for i in range(200)}


@pytest.fixture
def tokenizer_dir(tmp_path):
    """A word-level tokenizer over the tiny model's 200 ids, saved like any local tokenizer."""
    tok = Tokenizer(models.WordLevel(vocab=WORDS, unk_token="w3"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="w3", pad_token="w1").save_pretrained(tmp_path)
    return str(tmp_path)


def _prompt(model) -> torch.Tensor:
    return model.prompt_encoder["default"].embedding.weight.detach()


def test_text_init_copies_the_embeddings_of_the_text_tokens(tokenizer_dir):
    base = make_base()
    shared = base.model.shared.weight.detach().clone()
    model = get_method("prompt").apply(base, {"num_virtual_tokens": 5, "init": "text", "init_text": "w17 w42", "tokenizer": tokenizer_dir})
    ids = AutoTokenizer.from_pretrained(tokenizer_dir)("w17 w42")["input_ids"]
    assert 42 in ids and len(ids) < 5
    # The text's token ids, repeated to fill the 5 virtual tokens.
    torch.testing.assert_close(_prompt(model), shared[(ids * 5)[:5]])


def test_text_init_defaults_to_the_base_models_tokenizer(tokenizer_dir):
    config = tiny_config()
    config._name_or_path = tokenizer_dir  # as if the base had been loaded from that directory
    model = get_method("prompt").apply(make_base(config), {"num_virtual_tokens": 8, "init": "text", "init_text": "w9"})
    ids = AutoTokenizer.from_pretrained(tokenizer_dir)("w9")["input_ids"]
    torch.testing.assert_close(_prompt(model), make_base().model.shared.weight.detach()[(ids * 8)[:8]])


def test_text_init_without_any_tokenizer_is_a_config_error():
    with pytest.raises(ConfigError) as err:
        get_method("prompt").apply(make_base(), {"init": "text", "init_text": "w9"})
    assert err.value.where == "method.tokenizer"


def test_vocab_init_starts_from_real_token_embeddings():
    base = make_base()
    shared = base.model.shared.weight.detach().clone()
    prompt = _prompt(get_method("prompt").apply(base, {"num_virtual_tokens": 4, "init": "vocab"}))
    assert all(any(torch.equal(row, emb) for emb in shared) for row in prompt)


def test_one_prompt_block_every_stored_value_is_used():
    # peft would allocate 2 x num_virtual_tokens rows for a seq2seq model and use only half.
    model = get_method("prompt").apply(make_base(), {"num_virtual_tokens": 6})
    assert tuple(_prompt(model).shape) == (6, 64)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"init": "text"}, "init: text needs init_text"),
        ({"init_text": "hello"}, "only apply to init: text"),
        ({"num_virtual_tokens": 0}, "greater than or equal to 1"),
    ],
)
def test_inconsistent_params_are_config_errors(params, field):
    with pytest.raises(ConfigError, match=field):
        get_method("prompt").validate_params(params)


def test_a_prompt_longer_than_the_position_table_is_refused():
    with pytest.raises(ConfigError) as err:
        get_method("prompt").apply(make_base(), {"num_virtual_tokens": 100})
    assert err.value.where == "method.num_virtual_tokens"
