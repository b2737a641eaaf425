"""The reward model's within-prompt ranking loss (reward.pairwise_weight): prompts stay together in the batch
order, only same-prompt pairs with a clear labelled gap count, the loss falls as the predicted order agrees with
the labels, and its gradient raises the better response; a real (tiny random BERT) training run takes it."""

import numpy as np
import pytest
import torch

from saferlhf.reward.train import grouped_order, pairwise_loss


def test_grouped_order_is_a_permutation_with_each_prompt_adjacent():
    groups = np.array([0, 1, 0, 2, 1, 2, 2, 0])
    order = grouped_order(groups, torch.Generator().manual_seed(0)).numpy()
    assert sorted(order.tolist()) == list(range(len(groups)))
    seq = groups[order]
    runs = [g for i, g in enumerate(seq) if i == 0 or g != seq[i - 1]]
    assert sorted(runs) == [0, 1, 2]  # one run per prompt
    other = grouped_order(groups, torch.Generator().manual_seed(1)).numpy()
    orders = {tuple(grouped_order(groups, torch.Generator().manual_seed(s)).numpy()) for s in range(6)}
    assert len(orders) > 1 and len(other) == len(order)  # the prompts are shuffled


def test_only_same_prompt_pairs_with_a_clear_gap_count():
    label = torch.tensor([1.3, 0.9, 1.3, 1.25])
    groups = torch.tensor([0, 0, 1, 1])  # prompt 1's gap (0.05) is under the margin
    right, wrong = torch.tensor([1.0, 0.0, 5.0, -5.0]), torch.tensor([0.0, 1.0, 5.0, -5.0])
    assert pairwise_loss(right, label, groups, 0.1) < pairwise_loss(wrong, label, groups, 0.1)
    # prompt 1's predictions do not matter: its pair is not counted
    assert pairwise_loss(torch.tensor([0.0, 1.0, -5.0, 5.0]), label, groups, 0.1) == pairwise_loss(
        wrong, label, groups, 0.1)
    none = pairwise_loss(torch.tensor([1.0, 2.0], requires_grad=True), torch.tensor([1.0, 1.0]),
                         torch.tensor([0, 1]), 0.1)
    assert none.item() == 0 and none.requires_grad  # a batch without pairs still backpropagates (DDP steps)


def test_gradient_raises_the_better_response():
    pred = torch.tensor([0.5, 0.5], requires_grad=True)
    pairwise_loss(pred, torch.tensor([1.3, 0.8]), torch.tensor([7, 7]), 0.1).backward()
    assert pred.grad[0] < 0 < pred.grad[1]  # gradient descent lifts the better, lowers the worse
    assert pairwise_loss(torch.tensor([2.0, 0.0]), torch.tensor([1.3, 0.8]), torch.tensor([7, 7]), 0.1) < 1e-6


@pytest.mark.parametrize("weight", [0.0, 1.0])
def test_training_with_the_ranking_loss(tiny_layout, tmp_path, weight):
    import shutil

    from transformers import BertConfig, BertModel, BertTokenizerFast

    from saferlhf.artifacts import Layout
    from saferlhf.config import RewardConfig
    from saferlhf.reward import run_train

    folder = tmp_path / "enc"
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [chr(c) for c in range(97, 123)]
    folder.mkdir()
    (folder / "vocab.txt").write_text("\n".join(vocab))
    tok = BertTokenizerFast(str(folder / "vocab.txt"))
    BertModel(BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=128)).save_pretrained(folder)
    tok.save_pretrained(folder)
    layout = Layout(tmp_path / "outputs")
    shutil.copytree(tiny_layout.data_dir, layout.data_dir)
    result = run_train(RewardConfig(model_name=str(folder), num_epochs=1, max_train_samples=64, max_length=48,
                                    warmup_steps=1, mc_dropout_passes=2, pairwise_weight=weight), layout)
    assert result.test_rows > 0 and result.pairwise_pairs > 0 and result.train_seconds > 0
    assert (layout.reward_model / "model.safetensors").is_file()
