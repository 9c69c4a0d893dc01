"""The offline tiny base: a real HF model folder loadable with from_pretrained, mBART-50
language codes honoured, and cached (built once per spec)."""

import torch

from raymt.errors import ConfigError
from raymt.model.loading import forced_bos_id, load_model, load_tokenizer
from raymt.model.tiny import TinyModelSpec, build_tiny_base


def test_base_loads_from_local_folder_with_language_codes(tiny_base):
    tok = load_tokenizer(str(tiny_base), "en_XX", "de_DE")
    assert type(tok).__name__ == "MBart50Tokenizer"
    enc = tok("the doctor", text_target="fusainai")
    assert tok.convert_ids_to_tokens(enc["input_ids"][0]) == "en_XX"  # mBART-50: source code first
    assert tok.convert_ids_to_tokens(enc["labels"][0]) == "de_DE"  # target code first
    tok.src_lang = "fr_XX"
    assert tok.convert_ids_to_tokens(tok("the doctor")["input_ids"][0]) == "fr_XX"
    model = load_model(str(tiny_base))
    assert sum(p.numel() for p in model.parameters()) < 5_000_000
    out = model.generate(**tok(["the doctor"], return_tensors="pt"), forced_bos_token_id=forced_bos_id(tok, "de_DE"), max_new_tokens=5)
    assert out[0, 1].item() == tok.convert_tokens_to_ids("de_DE")  # forced target language


def test_unknown_language_code_is_refused(tiny_base):
    try:
        load_tokenizer(str(tiny_base), "en_XX", "xx_YY")
    except ConfigError as err:
        assert "model.tgt_lang" in str(err) and "xx_YY" in str(err)
    else:
        raise AssertionError("unknown code accepted")


def test_base_is_cached(tiny_base, cache_root):
    before = (tiny_base / "model.safetensors").stat().st_mtime
    again = build_tiny_base(TinyModelSpec(), cache_root, log=lambda m: (_ for _ in ()).throw(AssertionError("rebuilt")))
    assert again == tiny_base and (again / "model.safetensors").stat().st_mtime == before
    assert not list(tiny_base.glob("*.bin"))  # safetensors only


def test_pretrained_base_translates_its_own_domain(tiny_base):
    """The base must really be pre-trained: PEFT methods only make sense on one."""
    from raymt.data.synthetic import SyntheticSpec, generate_splits
    from raymt.metrics.bleu import corpus_scores

    pairs = generate_splits(SyntheticSpec(domain="general", seed=123, train_size=1, valid_size=0, test_size=40, lexicon_size=20))["test"]
    tok = load_tokenizer(str(tiny_base), "en_XX", "de_DE")
    model = load_model(str(tiny_base)).eval()
    with torch.no_grad():
        out = model.generate(
            **tok([s for s, _ in pairs], return_tensors="pt", padding=True), forced_bos_token_id=forced_bos_id(tok, "de_DE"), max_new_tokens=40
        )
    hyps = tok.batch_decode(out, skip_special_tokens=True)
    assert corpus_scores(hyps, [t for _, t in pairs]).bleu > 20
