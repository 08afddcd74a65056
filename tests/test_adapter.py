"""The shipped LoRA adapter: how it is recorded, named, merged into the model, and what it does to retrieval."""

import json
import shutil

import numpy as np
import pytest

import index.retrieve as retrieve
from index import embed
from index.adapt import LORA_TARGETS, SHIPPED_RECIPE
from index.embed import MODEL_NAME, SHIPPED_ADAPTER, SentenceEmbedder, adapter_name, merge_lora


def test_the_shipped_adapter_is_small_and_says_how_it_was_made():
    config = json.loads((SHIPPED_ADAPTER / "adapter_config.json").read_text())
    training = json.loads((SHIPPED_ADAPTER / "training.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == SHIPPED_RECIPE["lora_rank"]
    assert config["base_model_name_or_path"] == MODEL_NAME  # not the path on the machine that trained it
    assert training["recipe"]["question_sets"] == ["dev", "staff"]  # the held-out sets stay unseen
    assert training["kinds"]["labelled"] > 100 and training["kinds"]["question"] > 50
    assert (SHIPPED_ADAPTER / "adapter_model.safetensors").stat().st_size < 4 * 1024 * 1024


def test_the_embedder_name_says_which_adapter(monkeypatch, tmp_path):
    assert SentenceEmbedder(adapter=None).name == MODEL_NAME
    shipped = SentenceEmbedder().name
    assert shipped == adapter_name(SHIPPED_ADAPTER) == retrieve.SHIPPED_MODEL
    assert shipped.startswith(MODEL_NAME + "+lora-") and shipped in retrieve.SCOPE_CALIBRATED
    monkeypatch.setenv("POLICYBOT_ADAPTER", "none")
    assert SentenceEmbedder().name == MODEL_NAME
    # Another adapter's vectors never share a name (the cache and the FAISS header key on it).
    other = tmp_path / "other"
    shutil.copytree(SHIPPED_ADAPTER, other)
    data = bytearray((other / "adapter_model.safetensors").read_bytes())
    data[-1] ^= 1
    (other / "adapter_model.safetensors").write_bytes(bytes(data))
    monkeypatch.setenv("POLICYBOT_ADAPTER", str(other))
    assert SentenceEmbedder().name not in (MODEL_NAME, shipped)


def test_each_embedder_gets_the_settings_fitted_for_it():
    assert retrieve.params_for(retrieve.SHIPPED_MODEL) is retrieve.DEFAULT_PARAMS
    assert retrieve.params_for(MODEL_NAME) is retrieve.PLAIN_MODEL_PARAMS
    assert retrieve.DEFAULT_PARAMS.abstainer != retrieve.PLAIN_MODEL_PARAMS.abstainer


def test_without_the_adapter_installed_the_plain_model_keeps_its_own_settings(monkeypatch):
    monkeypatch.setattr(retrieve, "SHIPPED_MODEL", MODEL_NAME)  # e.g. an install without package data
    assert retrieve.params_for(MODEL_NAME) is retrieve.PLAIN_MODEL_PARAMS


def _bert():
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(embed.bundled_model_path(), device="cpu", local_files_only=True)


def _bad_adapter(tmp_path, **change):
    bad = tmp_path / "bad"
    shutil.copytree(SHIPPED_ADAPTER, bad)
    config = json.loads((bad / "adapter_config.json").read_text())
    config.update(change)
    (bad / "adapter_config.json").write_text(json.dumps(config))
    return bad


@pytest.mark.model
@pytest.mark.parametrize("change", [{"use_dora": True}, {"peft_type": "IA3"}, {"bias": "all"}])
def test_adapters_it_cannot_merge_are_refused_before_any_weight_changes(tmp_path, change):
    model = _bert()
    before = model[0].auto_model.encoder.layer[0].attention.self.query.weight.clone()
    with pytest.raises(ValueError):
        merge_lora(model[0].auto_model, _bad_adapter(tmp_path, **change))
    assert (model[0].auto_model.encoder.layer[0].attention.self.query.weight == before).all()


@pytest.mark.model
def test_an_adapter_for_another_model_is_refused(tmp_path):
    from safetensors.torch import load_file, save_file

    bad = _bad_adapter(tmp_path)
    tensors = load_file(str(bad / "adapter_model.safetensors"))
    key = next(k for k in tensors if k.endswith("query.lora_A.weight"))
    tensors[key.replace("layer.0.", "layer.9.")] = tensors[key].clone()  # MiniLM-L6 has layers 0-5
    save_file(tensors, str(bad / "adapter_model.safetensors"))
    with pytest.raises(ValueError, match="layer.9"):
        merge_lora(_bert()[0].auto_model, bad)


@pytest.mark.model
def test_merging_gives_what_peft_gives(tmp_path):
    """``merge_lora`` (no peft at serving time) against peft's own merge of a random adapter."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    texts = ["Can I accept a friend request from a pupil?", "Concerns may be raised verbally, by phone, or in writing."]
    trained = _bert()
    peft_model = get_peft_model(trained[0].auto_model, LoraConfig(r=4, lora_alpha=8, target_modules=LORA_TARGETS))
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.02)  # peft starts B at zero: a zero adapter would prove nothing
    peft_model.save_pretrained(str(tmp_path / "adapter"))
    trained[0].auto_model = peft_model.merge_and_unload()
    expected = trained.encode(texts, normalize_embeddings=True)

    ours = _bert()
    plain = ours.encode(texts, normalize_embeddings=True)
    assert merge_lora(ours[0].auto_model, tmp_path / "adapter") == 36  # 6 layers x (q, k, v, 3 dense)
    got = ours.encode(texts, normalize_embeddings=True)
    assert np.abs(got - expected).max() < 1e-5
    assert np.abs(got - plain).max() > 1e-3


@pytest.mark.model
def test_the_shipped_adapter_finds_what_the_plain_model_misses():
    """A held-out real-document question (not in the adapter's training data): "looks into" is an
    investigation. The plain model ranks the clause far down (111th in README "Evaluation")."""
    question = "Who actually looks into it once I've reported something? Is it someone independent?"
    clauses = [
        "Investigation: A proportionate, independent, and confidential investigation will be carried out by an "
        "impartial investigator appointed by the Whistleblowing Officer.",
        "Deliberate concealment of any of the above.",
        "I will immediately report any unpleasant or inappropriate material or messages.",
        "Social contact between adult colleagues.",
    ]

    def rank_of_gold(embedder):
        vecs = embedder.encode([question] + clauses)
        sims = vecs[1:] @ vecs[0]
        return int((sims > sims[0]).sum()) + 1

    assert rank_of_gold(SentenceEmbedder()) == 1
    assert rank_of_gold(SentenceEmbedder(adapter=None)) > 1


@pytest.mark.model
def test_a_lora_training_saves_the_adapter_alone_and_serving_reproduces_it(tmp_path):
    """``fine_tune(lora_rank=...)``: the directory holds peft's adapter files only (no 87 MiB model), names the
    base model by its hub name, and the embedder that merges it (``merge_lora``) embeds as the trained model."""
    from index.adapt import Pair, fine_tune

    pairs = [
        Pair(
            "can I give my login to a colleague?",
            "Users must not allow other users to access the systems using their log on details.",
            "labelled",
            "d",
        ),
        Pair(
            "who investigates a concern?",
            "An impartial investigator appointed by the Whistleblowing Officer will carry out the investigation.",
            "labelled",
            "d",
        ),
        Pair(
            "can parents film the nativity?",
            "Parents are welcome to take videos of their children at school events for their own personal use.",
            "labelled",
            "d",
        ),
    ]
    model, stats = fine_tune(pairs, tmp_path / "adapter", epochs=2, batch_size=3, lr=1e-3, lora_rank=2, threads=2)
    saved = sorted(p.name for p in (tmp_path / "adapter").iterdir())
    assert "adapter_model.safetensors" in saved and "model.safetensors" not in saved
    assert (
        json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())["base_model_name_or_path"] == MODEL_NAME
    )
    assert 0 < stats["trained_parameters"] < 100_000
    texts = [p.anchor for p in pairs] + [p.positive for p in pairs]
    served = SentenceEmbedder(adapter=tmp_path / "adapter").encode(texts)
    trained = model.encode(texts, normalize_embeddings=True)
    assert np.abs(served - trained).max() < 1e-5
    assert np.abs(served - SentenceEmbedder(adapter=None).encode(texts)).max() > 1e-4
