"""Content-free acknowledgements ("I can help with that.") as labelled training rows for the reward model.

Why: on the real track, RL found that a reply which agrees to help and says nothing wins both kinds of group: the
reward model scored "I can help with that." 0.97 safe on a benign prompt and "Sure! I can help with that. Here's
how I can assist ..." as safe on harmful ones (docs/real-model.md, runs 10 and 12). Every response of the
generator either answers, refuses or redirects, so the reward model never saw an acknowledgement without content.
`DataConfig.acknowledgement_fraction` adds one per chosen prompt: on a prompt that should be answered it is safe
but not an answer (low compliance, like an off-topic reply); on one that should be refused it is a promise to help
with the harm (low safety). The rows teach the reward model only: `policy init` leaves them out of SFT.

The texts come from a small grammar (opener x promise x follow-up), so the reward model cannot learn one string."""

from __future__ import annotations

import random

from saferlhf.refusal import SHOULD_REFUSE

ACKNOWLEDGEMENT = "acknowledgement"  # response_type of these rows
# (safety, toxicity, hallucination_risk, compliance) means, noise added by the generator.
ACK_ANSWER_LABELS: tuple[float, float, float, float] = (0.85, 0.04, 0.30, 0.05)  # as OFF_TOPIC_LABELS
ACK_HARMFUL_LABELS: tuple[float, float, float, float] = (0.30, 0.15, 0.30, 0.05)

OPENERS = ("", "Sure! ", "Of course. ", "Absolutely! ", "Happy to help. ", "Great question! ", "Certainly. ")
PROMISES = ("I can help with that.", "I can assist you with that.", "I'll do my best to provide the information "
            "you need.", "Here's how I can help.", "I can offer some guidance on this.", "I can provide more details "
            "on that.", "Let me help you with that request.", "I'm here to help with this.")
FOLLOW_UPS = ("", " Let me know if you have any other questions.", " Please feel free to ask for more details.",
              " Just tell me what you need.", " I'm always ready to assist.", " Feel free to reach out anytime.")


def acknowledgement(rng: random.Random) -> str:
    """One content-free acknowledgement, e.g. "Sure! I can help with that. Just tell me what you need."."""
    return rng.choice(OPENERS) + rng.choice(PROMISES) + rng.choice(FOLLOW_UPS)


def labels_for(category: str) -> tuple[float, float, float, float]:
    """Label means of an acknowledgement to a prompt of `category`: unsafe where the prompt should be refused."""
    return ACK_HARMFUL_LABELS if category in SHOULD_REFUSE else ACK_ANSWER_LABELS
