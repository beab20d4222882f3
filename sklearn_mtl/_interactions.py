"""The ``interaction`` parameter: an explicit feature-interaction block put
between the embedding and any model, by name."""

import inspect

from .nn import CrossNetwork, CrossNetworkMix, FactorizationMachine, InteractionEmbedding


def _dcn_v2(embedding, num_layers=2):
    return CrossNetwork(embedding.out_features, num_layers)


def _dcn_v2_mix(embedding, num_layers=2, num_experts=4, low_rank=32):
    return CrossNetworkMix(embedding.out_features, num_layers, num_experts, low_rank)


def _fm(embedding, numeric_factors=True, output="vector"):
    return FactorizationMachine.from_embedding(
        embedding, numeric_factors=numeric_factors, output=output
    )


#: Name -> (block factory of the embedding and the block's options, default combine).
#: A cross network replaces the embedding (DCN-v2's stacked form); an FM's pooled
#: interactions join the raw embeddings (DeepFM's layout).
INTERACTIONS = {
    "dcn_v2": (_dcn_v2, "replace"),
    "dcn_v2_mix": (_dcn_v2_mix, "replace"),
    "fm": (_fm, "concat"),
}


def interaction_embedding(embedding, interaction, interaction_params):
    """``embedding``, or ``embedding`` under the named interaction block.

    ``interaction_params`` holds the block's options (the factory's keywords)
    and ``combine``; an unknown key or a block that cannot be built on these
    inputs is a ValueError that names the parameter.
    """
    if interaction is None:
        if interaction_params:
            raise ValueError(
                f"interaction_params={interaction_params!r} is set but interaction=None; "
                f"choose an interaction among {sorted(INTERACTIONS)} or drop the params."
            )
        return embedding
    factory, combine = INTERACTIONS[interaction]
    options = dict(interaction_params or {})
    combine = options.pop("combine", combine)
    allowed = list(inspect.signature(factory).parameters)[1:]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(
            f"interaction_params has key(s) {unknown} that interaction={interaction!r} does "
            f"not take; its keys are {allowed + ['combine']}."
        )
    try:
        return InteractionEmbedding(embedding, factory(embedding, **options), combine=combine)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"interaction={interaction!r}, interaction_params: {exc}") from exc
