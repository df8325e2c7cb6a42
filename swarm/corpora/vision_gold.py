"""The vision corpus's gold figures: every result its digests state, in the prose and in the
tables (swarm/corpora/vision.py). Settings (a resolution, an expansion factor, the scaling
coefficients, a number of epochs) and the sizes of datasets are not results, and are left out."""

from __future__ import annotations

from swarm.corpora.gold import GoldMetric as G

IN = "ImageNet"
IN_VAL = "ImageNet validation set"
TOP1, TOP5 = "top-1 accuracy", "top-5 accuracy"
TOP1_ERR, TOP5_ERR = "top-1 error", "top-5 error"
PARAMS, FLOPS, MADDS = "parameters", "FLOPs", "multiply-adds"
PIXEL = "latency on a single large core of the Google Pixel 1 phone"
XEON = "inference latency on a single core of an Intel Xeon CPU E5-2690"
V100 = "throughput on one 16GB V100 GPU"
CORE_DAYS = "pre-training compute"


def _resnet() -> tuple[G, ...]:
    p = "resnet"
    single = [G(p, printed, float(printed), "%", measure, method, dataset=IN_VAL)
              for method, top1, top5 in (("VGG (v5)", "24.4", "7.1"),
                                         ("PReLU-net", "21.59", "5.71"),
                                         ("BN-inception", "21.99", "5.81"),
                                         ("ResNet-34 B", "21.84", "5.71"),
                                         ("ResNet-34 C", "21.53", "5.60"),
                                         ("ResNet-50", "20.74", "5.25"),
                                         ("ResNet-101", "19.87", "4.60"),
                                         ("ResNet-152", "19.38", None))
              for printed, measure in ((top1, "single-model " + TOP1_ERR),
                                       (top5, "single-model " + TOP5_ERR))
              if printed is not None]
    return (
        G(p, "8x", 8.0, "x", "depth relative to VGG nets", "ResNet", baseline="VGG nets"),
        G(p, "3.57%", 3.57, "%", TOP5_ERR, "ensemble", dataset="ImageNet test set"),
        G(p, "28%", 28.0, "%", "relative improvement in COCO mAP@[.5, .95]", "ResNet-101",
          dataset="COCO", baseline="VGG-16"),
        G(p, "3.6 billion FLOPs", 3.6e9, FLOPS, FLOPS, "34-layer residual net",
          baseline="VGG-19"),
        G(p, "18%", 18.0, "%", "FLOPs as a share of VGG-19's", "34-layer residual net",
          baseline="VGG-19"),
        G(p, "19.6 billion FLOPs", 19.6e9, FLOPS, FLOPS, "VGG-19"),
        G(p, "3.8 billion FLOPs", 3.8e9, FLOPS, FLOPS, "50-layer ResNet"),
        G(p, "7.6 billion FLOPs", 7.6e9, FLOPS, FLOPS, "101-layer ResNet"),
        G(p, "11.3 billion FLOPs", 11.3e9, FLOPS, FLOPS, "152-layer ResNet",
          baseline="VGG-16"),
        G(p, "15.3 billion FLOPs", 15.3e9, FLOPS, FLOPS, "VGG-16"),
        G(p, "24.52%", 24.52, "%", "10-crop " + TOP1_ERR + ", projection shortcuts where "
          "the dimensions increase (B)", "ResNet-34", dataset=IN),
        G(p, "24.19%", 24.19, "%", "10-crop " + TOP1_ERR + ", projections for all shortcuts "
          "(C)", "ResNet-34", dataset=IN),
        G(p, "28.54%", 28.54, "%", "10-crop " + TOP1_ERR, "34-layer net", dataset=IN),
        G(p, "27.94%", 27.94, "%", "10-crop " + TOP1_ERR, "18-layer net", dataset=IN),
        G(p, "25.03%", 25.03, "%", "10-crop " + TOP1_ERR, "34-layer ResNet", dataset=IN,
          baseline="34-layer net"),
        G(p, "2.8%", 2.8, "%", "reduction in top-1 error", "34-layer ResNet", dataset=IN,
          baseline="18-layer ResNet"),
        G(p, "27.88%", 27.88, "%", "10-crop " + TOP1_ERR, "18-layer ResNet", dataset=IN),
        G(p, "3.5%", 3.5, "%", "reduction in top-1 error", "34-layer ResNet", dataset=IN,
          baseline="plain counterpart"),
        G(p, "22.85%", 22.85, "%", "10-crop " + TOP1_ERR, "ResNet-50", dataset=IN),
        G(p, "21.75%", 21.75, "%", "10-crop " + TOP1_ERR, "ResNet-101", dataset=IN),
        G(p, "21.43%", 21.43, "%", "10-crop " + TOP1_ERR, "ResNet-152", dataset=IN),
        G(p, "4.49%", 4.49, "%", "single-model " + TOP5_ERR, "ResNet-152", dataset=IN_VAL,
          baseline="ensemble"),
        *single,
        G(p, "1.7M", 1.7e6, PARAMS, PARAMS, "110-layer ResNet", dataset="CIFAR-10"),
        G(p, "6.43%", 6.43, "%", "test error", "110-layer ResNet", dataset="CIFAR-10"),
        G(p, "21.2", 21.2, "", "mAP@[.5, .95]", "VGG-16", dataset="COCO"),
        G(p, "27.2", 27.2, "", "mAP@[.5, .95]", "ResNet-101", dataset="COCO",
          baseline="VGG-16"),
        G(p, "6.0%", 6.0, "%", "increase in mAP@[.5, .95]", "ResNet-101", dataset="COCO",
          baseline="VGG-16"),
        G(p, "0.1%", 0.1, "%", "training error (an upper bound)", "1202-layer network",
          dataset="CIFAR-10"),
        G(p, "7.93%", 7.93, "%", "test error", "1202-layer network", dataset="CIFAR-10",
          baseline="110-layer network"),
        G(p, "19.4M", 19.4e6, PARAMS, PARAMS, "1202-layer network", dataset="CIFAR-10"),
    )


def _mobilenetv2() -> tuple[G, ...]:
    p = "mobilenetv2"
    rows = (("MobileNetV1", "70.6", "4.2M", "575M", "113ms"),
            ("ShuffleNet (1.5)", "71.5", "3.4M", "292M", None),
            ("ShuffleNet (x2)", "73.7", "5.4M", "524M", None),
            ("NasNet-A", "74.0", "5.3M", "564M", "183ms"),
            ("MobileNetV2", "72.0", "3.4M", "300M", "75ms"),
            ("MobileNetV2 (1.4)", "74.7", "6.9M", "585M", "143ms"))
    table = []
    for method, top1, params, madds, latency in rows:
        table += [G(p, top1, float(top1), "%", TOP1, method, dataset=IN),
                  G(p, params, float(params[:-1]) * 1e6, PARAMS, PARAMS, method),
                  G(p, madds, float(madds[:-1]) * 1e6, MADDS, MADDS, method)]
        if latency:
            table.append(G(p, latency, float(latency[:-2]) / 1000, "s", PIXEL, method))
    return (
        G(p, "9 times", 9.0, "x", "computational cost reduction (8 to 9 times)",
          "depthwise separable convolution", baseline="standard convolution"),
        *table,
        G(p, "22.1", 22.1, "", "mAP", "MobileNetV2 with SSDLite", dataset="COCO"),
        G(p, "4.3M", 4.3e6, PARAMS, PARAMS, "MobileNetV2 with SSDLite"),
        G(p, "0.8B", 0.8e9, MADDS, MADDS, "MobileNetV2 with SSDLite"),
        G(p, "200ms", 0.2, "s", PIXEL, "MobileNetV2 with SSDLite"),
        G(p, "22.2", 22.2, "", "mAP", "MobileNetV1 with SSDLite", dataset="COCO"),
        G(p, "5.1M", 5.1e6, PARAMS, PARAMS, "MobileNetV1 with SSDLite"),
        G(p, "1.3B", 1.3e9, MADDS, MADDS, "MobileNetV1 with SSDLite"),
        G(p, "270ms", 0.27, "s", PIXEL, "MobileNetV1 with SSDLite"),
        G(p, "21.6", 21.6, "", "mAP", "YOLOv2", dataset="COCO"),
        G(p, "50.7M", 50.7e6, PARAMS, PARAMS, "YOLOv2"),
        G(p, "17.5B", 17.5e9, MADDS, MADDS, "YOLOv2"),
        G(p, "20x", 20.0, "x", "efficiency (fewer multiply-adds)", "MobileNetV2 SSDLite",
          dataset="COCO", baseline="YOLOv2"),
        G(p, "10x", 10.0, "x", "size reduction (fewer parameters)", "MobileNetV2 SSDLite",
          dataset="COCO", baseline="YOLOv2"),
    )


def _efficientnet() -> tuple[G, ...]:
    p = "efficientnet"
    family = (("EfficientNet-B0", "77.1%", "93.3%", "5.3M", "0.39B"),
              ("EfficientNet-B1", "79.1%", "94.4%", "7.8M", "0.70B"),
              ("EfficientNet-B2", "80.1%", "94.9%", "9.2M", "1.0B"),
              ("EfficientNet-B3", "81.6%", "95.7%", "12M", "1.8B"),
              ("EfficientNet-B4", "82.9%", "96.4%", "19M", "4.2B"),
              ("EfficientNet-B5", "83.6%", "96.7%", "30M", "9.9B"),
              ("EfficientNet-B6", "84.0%", "96.8%", "43M", "19B"),
              ("EfficientNet-B7", "84.3%", "97.0%", "66M", "37B"))
    table = [G(p, cell, value, unit, measure, method, dataset=dataset)
             for method, top1, top5, params, flops in family
             for cell, value, unit, measure, dataset in (
                 (top1, float(top1[:-1]), "%", TOP1, IN),
                 (top5, float(top5[:-1]), "%", TOP5, IN),
                 (params, float(params[:-1]) * 1e6, PARAMS, PARAMS, ""),
                 (flops, float(flops[:-1]) * 1e9, FLOPS, FLOPS, ""))]
    return (
        *table,
        G(p, "8.4x", 8.4, "x", "parameter reduction", "EfficientNet-B7", dataset=IN,
          baseline="GPipe"),
        G(p, "6.1x", 6.1, "x", "inference speedup", "EfficientNet-B7", baseline="GPipe"),
        G(p, "91.7%", 91.7, "%", "transfer accuracy", "EfficientNet", dataset="CIFAR-100"),
        G(p, "98.8%", 98.8, "%", "transfer accuracy", "EfficientNet", dataset="Flowers"),
        G(p, "76.0%", 76.0, "%", TOP1, "ResNet-50", dataset=IN),
        G(p, "26M", 26e6, PARAMS, PARAMS, "ResNet-50"),
        G(p, "4.1B", 4.1e9, FLOPS, FLOPS, "ResNet-50"),
        G(p, "4.9x", 4.9, "x", "parameter reduction", "EfficientNet-B0",
          baseline="ResNet-50"),
        G(p, "11x", 11.0, "x", "FLOPs reduction", "EfficientNet-B0", baseline="ResNet-50"),
        G(p, "556M", 556e6, PARAMS, PARAMS, "GPipe"),
        G(p, "0.098s", 0.098, "s", XEON, "EfficientNet-B1", baseline="ResNet-152"),
        G(p, "0.554s", 0.554, "s", XEON, "ResNet-152"),
        G(p, "5.7x", 5.7, "x", "inference speedup", "EfficientNet-B1", baseline="ResNet-152"),
        G(p, "3.1s", 3.1, "s", XEON, "EfficientNet-B7", baseline="GPipe"),
        G(p, "19.0s", 19.0, "s", XEON, "GPipe"),
    )


def _vit() -> tuple[G, ...]:
    p = "vit"
    variants = [G(p, params, float(params[:-1]) * 1e6, PARAMS, PARAMS, model)
                for model, params in (("ViT-Base", "86M"), ("ViT-Large", "307M"),
                                      ("ViT-Huge", "632M"))]
    columns = (IN, "ReaL", "CIFAR-10", "CIFAR-100", "VTAB")
    rows = (("ViT-H/14 (JFT)", ("88.55", "90.72", "99.50", "94.55", "77.63"), "2.5k"),
            ("ViT-L/16 (JFT)", ("87.76", "90.54", "99.42", "93.90", "76.28"), "0.68k"),
            ("ViT-L/16 (I21k)", ("85.30", "88.62", "99.15", "93.25", "72.72"), "0.23k"),
            ("BiT-L (ResNet152x4)", ("87.54", "90.54", "99.37", "93.51", "76.29"), "9.9k"),
            ("Noisy Student (EfficientNet-L2)", ("88.4", "90.55", None, None, None),
             "12.3k"))
    table = []
    for method, scores, compute in rows:
        table += [G(p, score, float(score), "%", "accuracy", method, dataset=dataset)
                  for score, dataset in zip(scores, columns, strict=True) if score]
        table.append(G(p, compute, float(compute[:-1]) * 1e3, "TPUv3-core-days", CORE_DAYS,
                       method))
    return (
        *variants,
        *table,
        G(p, "30 days", 720.0, "hours", "pre-training time on a cloud TPUv3 with 8 cores",
          "ViT-L/16 (I21k)"),
        G(p, "79.9%", 79.9, "%", "accuracy with self-supervised pre-training", "ViT-B/16",
          dataset=IN, baseline="supervised pre-training"),
        G(p, "2%", 2.0, "%", "improvement over training from scratch", "ViT-B/16",
          dataset=IN, baseline="training from scratch"),
        G(p, "4%", 4.0, "%", "gap to supervised pre-training", "ViT-B/16", dataset=IN,
          baseline="supervised pre-training"),
    )


def _deit() -> tuple[G, ...]:
    p = "deit"
    rows = (("ViT-B/16", "86M", "85.9", "77.9"),
            ("ViT-L/16", "307M", "27.3", "76.5"),
            ("DeiT-Ti", "5M", "2536.5", "72.2"),
            ("DeiT-S", "22M", "940.4", "79.8"),
            ("DeiT-B", "86M", "292.3", "81.8"),
            ("DeiT-B (384)", None, "85.9", "83.1"),
            ("DeiT-B distilled", "87M", "290.9", "83.4"),
            ("DeiT-B distilled (384, 1000 epochs)", None, "85.8", "85.2"),
            ("EfficientNet-B7", "66M", "55.1", "84.3"))
    table = []
    for method, params, throughput, top1 in rows:
        if params:
            table.append(G(p, params, float(params[:-1]) * 1e6, PARAMS, PARAMS, method))
        table += [G(p, throughput, float(throughput), "images/s", V100, method),
                  G(p, top1, float(top1), "%", TOP1, method, dataset=IN)]
    return (
        *table,
        G(p, "3 days", 72.0, "hours", "training time on a single computer (at most)", "DeiT",
          dataset=IN),
        G(p, "37 hours", 37.0, "hours", "training time of 300 epochs with 2 nodes", "DeiT-B"),
        G(p, "53 hours", 53.0, "hours", "training time of 300 epochs on a single node",
          "DeiT-B"),
        G(p, "20%", 20.0, "%", "training slowdown", "RegNetY-16GF", baseline="DeiT-B"),
        G(p, "84M", 84e6, PARAMS, PARAMS, "RegNetY-16GF"),
        G(p, "3 days", 72.0, "hours", "training time on 4 GPUs (at most)", "DeiT-S"),
        G(p, "3 days", 72.0, "hours", "training time on 4 GPUs (at most)", "DeiT-Ti"),
        G(p, "20 hours", 20.0, "hours", "fine-tuning time at resolution 384 on 8 GPUs",
          "DeiT-B"),
    )


VISION_GOLD = (*_resnet(), *_mobilenetv2(), *_efficientnet(), *_vit(), *_deit())
