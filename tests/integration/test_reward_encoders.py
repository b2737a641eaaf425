"""Reward encoders of other architectures than MiniLM's BERT: tiny random RoBERTa and DeBERTa-v2 models (2 layers,
hidden 32) with tokenizers trained here, through `reward train` -> ONNX export (fp32, INT8) -> `saferlhf serve`.

Why these two: RoBERTa's tokenizer returns no token_type_ids and numbers positions from its padding index;
DeBERTa-v2 has no token-type embedding (type_vocab_size 0) and relative attention. Each breaks a BERT-only
assumption somewhere between the tokenizer, the trace and the scorer's `tokenizers` pair encoding."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import numpy as np
import pytest

from saferlhf.artifacts import Layout
from tests.integration.test_serving import PAIRS, run_scorer

pytestmark = pytest.mark.slow
ARCHS = ("roberta", "deberta-v2")


def _tokenizer(texts: list[str], arch: str):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if arch == "roberta":  # byte-level BPE, <s> A </s></s> B </s>, no token types
        specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
        tok = Tokenizer(models.BPE(unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=400, special_tokens=specials,
                                                           initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
        tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
        return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", sep_token="</s>",
                                       cls_token="<s>", pad_token="<pad>", unk_token="<unk>", mask_token="<mask>",
                                       model_input_names=["input_ids", "attention_mask"])
    specials = ["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"]  # DeBERTa-v2: sentencepiece-style unigram
    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.train_from_iterator(texts, trainers.UnigramTrainer(vocab_size=400, special_tokens=specials, unk_token="[UNK]"))
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                                       special_tokens=[("[CLS]", 1), ("[SEP]", 2)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]",
                                   unk_token="[UNK]", mask_token="[MASK]")


def _encoder(arch: str, tokenizer):
    from transformers import DebertaV2Config, DebertaV2Model, RobertaConfig, RobertaModel

    size = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                vocab_size=len(tokenizer), max_position_embeddings=160)
    if arch == "roberta":
        return RobertaModel(RobertaConfig(**size, pad_token_id=tokenizer.pad_token_id, bos_token_id=0,
                                          eos_token_id=2, type_vocab_size=1), add_pooling_layer=False)
    return DebertaV2Model(DebertaV2Config(**size, pad_token_id=tokenizer.pad_token_id, type_vocab_size=0,
                                          relative_attention=True, position_buckets=32, max_relative_positions=64,
                                          pos_att_type=["p2c", "c2p"]))


@pytest.fixture(scope="module", params=ARCHS)
def encoder_dir(request, tiny_layout, tmp_path_factory) -> tuple[str, Path]:
    """A saved tiny random encoder + tokenizer folder (`reward.model_name` takes it like a Hugging Face id)."""
    from saferlhf.data.loader import load_labels

    labels = load_labels(tiny_layout.labels)
    tokenizer = _tokenizer((labels["prompt"] + " " + labels["response"]).tolist(), request.param)
    folder = tmp_path_factory.mktemp(request.param)
    _encoder(request.param, tokenizer).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return request.param, folder


def test_encoder_through_train_export_and_serve(encoder_dir, tiny_layout, tmp_path):
    from saferlhf.config import ExportConfig, RewardConfig
    from saferlhf.onnx_export import run_export
    from saferlhf.reward import run_train
    from saferlhf.reward.model import RewardModel, RewardScorer

    arch, folder = encoder_dir
    layout = Layout(tmp_path / "outputs")
    shutil.copytree(tiny_layout.data_dir, layout.data_dir)
    result = run_train(RewardConfig(model_name=str(folder), num_epochs=1, max_train_samples=96, max_length=64,
                                    warmup_steps=1, learning_rate=1e-3, mc_dropout_passes=2), layout)
    assert result.test_rows > 0 and result.pairwise_pairs > 0
    assert type(RewardModel.load(layout.reward_model).encoder).__name__ == {
        "roberta": "RobertaModel", "deberta-v2": "DebertaV2Model"}[arch]

    export = run_export(ExportConfig(quantize="int8", max_parity_samples=48, max_calibration_samples=32,
                                     int8_search_seconds=300), layout)
    assert export.passed and export.fp32["max_abs_diff"] <= 1e-4, export.fp32
    int8 = export.int8
    # INT8 either meets its bounds (|diff| <= 0.02, >= 3/4 of the encoder's MatMuls) or is reported as failed
    # with its reason and not written; either way the report names what is INT8
    assert (layout.reward_onnx / "model.int8.onnx").is_file() == int8["usable"], int8
    if int8["usable"]:
        assert int8["max_abs_diff"] <= 0.02 and int8["encoder_int8_share"] >= 0.75
    else:
        assert int8["reason"] and int8["weight_flops_int8_share"] == 0

    expected = RewardScorer(layout.reward_model).scores([p for p, _ in PAIRS], [r for _, r in PAIRS])
    with run_scorer(layout.reward_onnx, tmp_path / "predictions", "--precision", "fp32") as (url, _):
        v1 = httpx.post(f"{url}/v1/score", json={"items": [{"prompt": p, "response": r} for p, r in PAIRS]})
    assert v1.status_code == 200, v1.text
    from saferlhf.signals import SIGNALS

    got = np.array([[it[s] for s in SIGNALS] for it in v1.json()["results"]])
    np.testing.assert_allclose(got, expected, atol=1e-4)
