"""The paper's three training stages: what model, loss and data each one uses (paper IV.A).

- segmentation: DeepLabV3+ on person and object masks, focal + dice.
- matting: the matting net on RGB + a trimap made from the true alpha, 0.5 alpha-L1 + 0.5 composition-L1.
- end2end: both pre-trained nets composed into AlphaNet; only the matting loss flows back, through the
  matting net (the ED layer has no gradient, so the segmentation net learns only from its own optional loss).
"""

import keras
import tensorflow as tf

import alphanet_tf.layers  # noqa: F401  (registers the custom layers for loading checkpoints)
from alphanet_tf.backbones import freeze_backbone_batchnorm
from alphanet_tf.losses import FocalDiceLoss, MattingLoss, region_mean
from alphanet_tf.models import AlphaNet, AlphaNetGivenTrimap, MattingNet, SegmentationNet
from alphanet_tf.bundle import resolve_model_path
from training.hatt import build_hattmatting


def _schedule(config):
    steps = config["epochs"] * config["steps_per_epoch"]
    alpha = config["min_learning_rate"] / config["learning_rate"]
    return keras.optimizers.schedules.CosineDecay(config["learning_rate"], decay_steps=steps, alpha=alpha)


class _AlphaMAE(keras.metrics.MeanMetricWrapper):
    """Mean |alpha error| on the packed matting target (its first channel is the alpha), over the region the
    loss uses."""

    def __init__(self, region="whole", name="alpha_mae", **kwargs):
        super().__init__(fn=lambda y_true, y_pred: region_mean(tf.abs(y_true[..., :1] - y_pred), y_true, region),
                         name=name, **kwargs)


def load_stage(path, name):
    """A stage checkpoint, or the sub-model `name` of a whole AlphaNet (`default`: the shipped one)."""
    model = load_checkpoint(resolve_model_path(path))
    try:
        return model.get_layer(name)
    except ValueError:
        return model  # a stage checkpoint itself


def _initialise(model, path, by_name=False):
    """Starts a stage from the weights of an earlier run of it (`init:` in the config), e.g. to train longer;
    `path` as `load_stage` takes it. `by_name` (`init_by_name:`): copy layer by layer where names match, for
    a model that grew new layers (they keep their initialisation); a matching name of another shape fails."""
    if not path:
        return model
    source = load_stage(path, model.name)
    if by_name:
        source_layers = {layer.name: layer for layer in source.layers}
        for layer in model.layers:
            if layer.name in source_layers and layer.weights:
                try:
                    layer.set_weights(source_layers[layer.name].get_weights())
                except ValueError as error:
                    raise ValueError(f"{path}: layer {layer.name} does not fit: {error}") from None
        return model
    try:
        model.set_weights(source.get_weights())
    except ValueError as error:
        raise ValueError(f"{path}: weights do not fit the configured {model.name}: {error}") from None
    return model


def build_segmentation(config):
    model = _initialise(SegmentationNet(backbone=config["backbone"]), config["init"])
    if config["freeze_backbone_bn"]:
        freeze_backbone_batchnorm(model)
    loss = FocalDiceLoss(focal_gamma=config["focal_gamma"], focal_alpha=config["focal_alpha"],
                         dice_weight=config["dice_weight"])
    metrics = [keras.metrics.BinaryIoU(target_class_ids=[1], threshold=0.5, name="iou")]
    return model, loss, metrics


def build_matting(config):
    model = MattingNet(attention=config["attention"], refine_filters=tuple(config["refine_filters"]))
    model = _initialise(model, config["init"], by_name=config["init_by_name"])
    if config["freeze_backbone_bn"]:
        freeze_backbone_batchnorm(model)
    region = config["loss_region"]
    return model, MattingLoss(gamma=config["gamma"], region=region), [_AlphaMAE(region)]


def load_checkpoint(path):
    return keras.saving.load_model(path, compile=False)


def build_end2end(config):
    segmentation_net = load_stage(config["segmentation"], "segmentation_net")
    matting_net = load_stage(config["matting"], "matting_net")
    if config["freeze_backbone_bn"]:
        freeze_backbone_batchnorm(matting_net)
    if config["segmentation_loss_weight"] <= 0:
        segmentation_net.trainable = False  # it gets no gradient through the ED layer anyway
    model = AlphaNet(segmentation_net, matting_net, seg_size=config["seg_size"],
                     trimap_rate=config["trimap_rate"], max_radius=config["max_radius"],
                     clean_radius=config["clean_radius"], unsure=config["unsure"])
    loss = {"alpha": MattingLoss(gamma=config["gamma"])}
    weights = {"alpha": 1.0}
    metrics = {"alpha": [_AlphaMAE()]}
    if config["segmentation_loss_weight"] > 0:
        loss["segmentation"] = FocalDiceLoss()
        weights["segmentation"] = config["segmentation_loss_weight"]
    if config["given_trimap_weight"] > 0:
        loss["given_alpha"] = MattingLoss(gamma=config["gamma"], region="unknown")
        weights["given_alpha"] = config["given_trimap_weight"]
        metrics["given_alpha"] = [_AlphaMAE("unknown")]
        return model, (loss, weights), metrics, given_trimap_view(model, loss)
    return model, (loss, weights), metrics


def given_trimap_view(alphanet, loss_names):
    """AlphaNet's outputs in `loss_names` on `image`, plus `given_alpha`: the same matting net on the image and
    a given trimap (`AlphaNetGivenTrimap`). Trained together, adapting the matting net to the ED layer's
    trimaps need not cost the given-trimap mode its quality (MODEL_CARD.md "Round 3": it kept most of it, and
    the automatic mode lost 15-20 % against the same training without this loss)."""
    image = keras.Input((None, None, 3), name="image")
    trimap = keras.Input((None, None, 1), name="trimap")
    outputs = alphanet(image)
    views = {k: outputs[k] for k in loss_names if k != "given_alpha"}
    views["given_alpha"] = AlphaNetGivenTrimap(alphanet)({"image": image, "trimap": trimap})["alpha"]
    return keras.Model({"image": image, "trimap": trimap}, views, name=f"{alphanet.name}_given_trimap_view")


def datasets(config):
    """(train, val) tf.data pipelines in the form the stage's model consumes."""
    from training.data import matting_dataset, segmentation_dataset

    stage, size, batch = config["stage"], config["size"], config["batch_size"]
    common = dict(batch_size=batch, seed=config["seed"])
    if stage == "segmentation":
        common.update(mix=config["mix"], whole_prob=config["whole_prob"])
        train = segmentation_dataset("train", size=size, **common)
        val = segmentation_dataset("val", size=size, repeat=False, val_size=config["val_size"], **common)
        return train, val
    common.update(whole_prob=config["whole_prob"], scene_whole_prob=config["scene_whole_prob"])
    given = stage == "end2end" and config["given_trimap_weight"] > 0
    if stage == "matting" or given:  # the other stages make their own trimaps or none
        common.update(uneven_trimap_prob=config["uneven_trimap_prob"], trimap_width=tuple(config["trimap_width"]))
    if stage == "matting":
        common.update(mix=config["mix"], official_trimap_prob=config["official_trimap_prob"],
                      native_scale_prob=config["native_scale_prob"])
    train = matting_dataset("train", crop=size, people_weight=config["people_weight"], **common)
    val = matting_dataset("val", crop=size, repeat=False, val_size=config["val_size"], **common)
    if stage == "matting" and config["loss_region"] == "unknown":
        train, val = (ds.map(lambda inputs, target: (inputs, _band_target(inputs, target))) for ds in (train, val))
    if stage == "end2end":
        with_masks = config["segmentation_loss_weight"] > 0

        def to_alphanet(inputs, target):
            targets = {"alpha": target}
            if with_masks:
                targets["segmentation"] = tf.cast(target[..., :1] > 0.5, tf.float32)
            if given:
                targets["given_alpha"] = _band_target(inputs, target)
                return inputs, targets
            return inputs["image"], targets

        train, val = train.map(to_alphanet), val.map(to_alphanet)
    return train, val


def _band_target(inputs, target):
    """The packed target with the sample's trimap as an eighth channel, for the loss over the band."""
    return tf.concat([target, inputs["trimap"]], axis=-1)


BUILDERS = {"segmentation": build_segmentation, "matting": build_matting, "end2end": build_end2end,
            "hattmatting": build_hattmatting}
