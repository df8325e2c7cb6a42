"""The vision corpus: five papers on efficient image classification (ResNet, MobileNetV2,
EfficientNet, ViT, DeiT), a field apart from PEFT, with the figures such papers measure:
accuracy and error rates, parameters, FLOPs and multiply-adds, latency, throughput, speedups
and compute. Each is a digest written for this project, most of them two pages long, with the
paper's own table (a subset of its rows or columns where noted); ResNet and EfficientNet are
set in two columns, as their conference versions are. The figures are the ones the papers
publish, and none are invented where a paper gives none."""

from __future__ import annotations

from swarm.corpora.digest import PaperDigest, Table

FIELD = "efficient image classification"

RESNET = PaperDigest(
    "resnet", "Deep Residual Learning for Image Recognition",
    "Kaiming He, Xiangyu Zhang, Shaoqing Ren, Jian Sun", "arXiv:1512.03385 (CVPR 2016)",
    (("Abstract",
      "Deeper neural networks are more difficult to train. ResNet eases the training of "
      "networks substantially deeper than those used before by reformulating the layers as "
      "learning residual functions with reference to the layer inputs, instead of learning "
      "unreferenced functions. On ImageNet, residual nets with a depth of up to 152 layers are "
      "evaluated: 8x deeper than VGG nets but still of lower complexity. An ensemble of these "
      "residual nets achieves 3.57% top-5 error on the ImageNet test set, the result that won "
      "the first place in the ILSVRC 2015 classification task. The depth of the "
      "representations alone gives a 28% relative improvement on the COCO object detection "
      "dataset."),
     ("Method",
      "Stacking more layers on a plain network exposes a degradation problem: as the depth "
      "grows, accuracy saturates and then degrades, and the training error itself rises, so "
      "overfitting does not explain it.\n\n"
      "Instead of hoping that a few stacked layers fit a desired mapping H(x), a residual "
      "block lets them fit the residual F(x) = H(x) - x and adds the input back through a "
      "shortcut connection, so that the block outputs F(x) + x. An identity shortcut adds "
      "neither parameters nor computation; where the dimensions change, a projection shortcut "
      "(a 1x1 convolution) matches them. For the deeper nets, a bottleneck block of three "
      "layers (1x1, 3x3 and 1x1 convolutions) replaces the block of two 3x3 layers: the 1x1 "
      "layers reduce and then restore the dimensions, leaving the 3x3 layer with smaller "
      "input and output dimensions."),
     ("Complexity",
      "The 34-layer residual net has 3.6 billion FLOPs (multiply-adds), only 18% of VGG-19 "
      "with its 19.6 billion FLOPs. The 50-layer ResNet, built from bottleneck blocks, has "
      "3.8 billion FLOPs and the 101-layer ResNet 7.6 billion FLOPs. Although the depth is "
      "significantly increased, the 152-layer ResNet (11.3 billion FLOPs) still has lower "
      "complexity than VGG-16 (15.3 billion FLOPs) and VGG-19."),
     ("Shortcuts",
      "Three options are compared for the shortcuts of ResNet-34: (A) zero-padding shortcuts "
      "where the dimensions increase, all shortcuts being parameter-free; (B) projection "
      "shortcuts where the dimensions increase, the others being identities; (C) projections "
      "for all shortcuts. With 10-crop testing, the top-1 error is 25.03% with A, 24.52% "
      "with B and 24.19% with C. B is slightly better than A, since the zero-padded "
      "dimensions of A learn no residual, and C marginally better than B, thanks to the "
      "extra parameters of its many projection shortcuts. The differences are small: "
      "projections are not essential to address the degradation problem, and C is not used "
      "further, to reduce memory and time complexity and the size of the models."),
     ("Results",
      "With plain networks, the deeper 34-layer net has a higher top-1 validation error than "
      "the 18-layer net: 28.54% against 27.94% with 10-crop testing. Residual learning "
      "reverses the situation: the 34-layer ResNet reaches 25.03% top-1 error, 2.8% lower "
      "than the 18-layer ResNet (27.88%), and 3.5% lower than its plain counterpart.\n\n"
      "The deeper bottleneck ResNets keep gaining accuracy from depth without degradation: "
      "with 10-crop testing the top-1 error is 22.85% for ResNet-50, 21.75% for ResNet-101 "
      "and 21.43% for ResNet-152. Table 4 gives the single-model results: the 152-layer "
      "ResNet has a single-model top-5 validation error of 4.49%, which outperforms all "
      "previous ensemble results. Combining six models of different depth into an ensemble "
      "leads to 3.57% top-5 error on the test set."),
     ("CIFAR-10 and object detection",
      "On CIFAR-10 the same behaviour holds: the 110-layer ResNet, with 1.7M parameters, has "
      "a test error of 6.43%. For object detection, replacing VGG-16 with ResNet-101 in "
      "Faster R-CNN raises the standard COCO metric (mAP@[.5, .95]) from 21.2 to 27.2, a "
      "6.0% increase that is a 28% relative improvement."),
     ("Limitations",
      "The 1202-layer network trained on CIFAR-10 reaches a training error below 0.1%, but "
      "its test error of 7.93% is worse than that of the 110-layer network. The paper "
      "attributes this to overfitting: the 19.4M-parameter model is unnecessarily large for "
      "so small a dataset, and stronger regularisation is left to future work.")),
    tables=(Table(
        "Results",
        "Table 4. Error rates (%) of single-model results on the ImageNet validation set.",
        ("Method", "top-1 err. (%)", "top-5 err. (%)"),
        (("VGG (v5)", "24.4", "7.1"),
         ("PReLU-net", "21.59", "5.71"),
         ("BN-inception", "21.99", "5.81"),
         ("ResNet-34 B", "21.84", "5.71"),
         ("ResNet-34 C", "21.53", "5.60"),
         ("ResNet-50", "20.74", "5.25"),
         ("ResNet-101", "19.87", "4.60"),
         ("ResNet-152", "19.38", "4.49")),
        (2.0, 1.0, 1.0)),),
    columns=2)

MOBILENETV2 = PaperDigest(
    "mobilenetv2", "MobileNetV2: Inverted Residuals and Linear Bottlenecks",
    "Mark Sandler, Andrew Howard, Menglong Zhu, Andrey Zhmoginov, Liang-Chieh Chen",
    "arXiv:1801.04381 (CVPR 2018)",
    (("Abstract",
      "MobileNetV2 is a mobile architecture that improves the state of the art of mobile "
      "models on multiple tasks and benchmarks and across a spectrum of model sizes. It is "
      "based on an inverted residual structure, where the shortcut connections are between "
      "the thin bottleneck layers, and the intermediate expansion layer uses lightweight "
      "depthwise convolutions to filter features. Removing the non-linearities in the narrow "
      "layers is important to maintain representational power. The paper measures ImageNet "
      "classification, COCO object detection with a framework called SSDLite, and VOC "
      "semantic segmentation with a reduced Mobile DeepLabv3, and evaluates the trade-offs "
      "between accuracy and the number of operations, measured by multiply-adds (MAdds), as "
      "well as actual latency and the number of parameters."),
     ("Method",
      "A depthwise separable convolution splits a full convolution into a depthwise "
      "convolution, which filters each input channel with a single kernel, and a 1x1 "
      "pointwise convolution that combines the channels. With 3x3 kernels its computational "
      "cost is 8 to 9 times smaller than that of a standard convolution, at only a small "
      "reduction in accuracy.\n\n"
      "The bottleneck residual block first expands a thin input with a 1x1 convolution and "
      "ReLU6, filters it with a 3x3 depthwise convolution and ReLU6, and projects it back "
      "with a linear 1x1 convolution: a non-linearity in the narrow layer would destroy "
      "information. The expansion factor is 6 in all the main experiments, so a bottleneck "
      "that takes a 64-channel tensor has an intermediate expansion layer of 384 channels. "
      "The network starts with a full convolution of 32 filters, followed by 19 residual "
      "bottleneck layers. Connecting the shortcuts between the bottlenecks rather than "
      "between the expanded layers makes the design considerably more memory efficient at "
      "inference, since only the thin bottleneck tensors have to be kept between blocks."),
     ("Results",
      "Table 4 compares the networks on ImageNet. MobileNetV2 reaches 72.0% top-1 accuracy "
      "with 3.4M parameters and 300M multiply-adds, and runs in 75ms on a single large core "
      "of the Google Pixel 1 phone using TF-Lite, against 70.6% top-1 accuracy, 4.2M "
      "parameters, 575M multiply-adds and 113ms for MobileNetV1.\n\n"
      "With a width multiplier of 1.4, MobileNetV2 (1.4) reaches 74.7% in 143ms, faster than "
      "NasNet-A, which reaches 74.0% in 183ms with a similar number of multiply-adds. The "
      "latency of ShuffleNet is not reported, as efficient group convolutions and shuffling "
      "were not yet supported by the engine."),
     ("Object detection",
      "SSDLite replaces the regular convolutions in the SSD prediction layers with separable "
      "convolutions. On COCO, MobileNetV2 with SSDLite reaches 22.1 mAP with 4.3M parameters "
      "and 0.8B multiply-adds, in 200ms on the Pixel 1, against 22.2 mAP, 5.1M parameters, "
      "1.3B multiply-adds and 270ms for MobileNetV1 with SSDLite, and 21.6 mAP with 50.7M "
      "parameters and 17.5B multiply-adds for YOLOv2. Compared to YOLOv2, MobileNetV2 "
      "SSDLite is 20x more efficient and 10x smaller."),
     ("Limitations",
      "Multiply-adds are only a proxy for speed: NasNet-A and MobileNetV2 (1.4) need a "
      "similar number of multiply-adds, yet their latencies differ markedly. The latencies "
      "are measured on one core of one phone with one inference engine.")),
    tables=(Table(
        "Results",
        "Table 4. Performance on ImageNet: top-1 accuracy (%), parameters, multiply-adds, and "
        "the running time on a single large core of the Google Pixel 1 phone (TF-Lite).",
        ("Network", "Top 1", "Params", "MAdds", "CPU"),
        (("MobileNetV1", "70.6", "4.2M", "575M", "113ms"),
         ("ShuffleNet (1.5)", "71.5", "3.4M", "292M", "-"),
         ("ShuffleNet (x2)", "73.7", "5.4M", "524M", "-"),
         ("NasNet-A", "74.0", "5.3M", "564M", "183ms"),
         ("MobileNetV2", "72.0", "3.4M", "300M", "75ms"),
         ("MobileNetV2 (1.4)", "74.7", "6.9M", "585M", "143ms")),
        (2.0, 1.0, 1.0, 1.0, 1.0)),),
    page_breaks=("Object detection",))

EFFICIENTNET = PaperDigest(
    "efficientnet", "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks",
    "Mingxing Tan, Quoc V. Le", "arXiv:1905.11946v5 (ICML 2019)",
    (("Abstract",
      "Convolutional networks are commonly developed at a fixed resource budget and then "
      "scaled up for better accuracy when more resources are available. A systematic study of "
      "model scaling shows that carefully balancing network depth, width and resolution leads "
      "to better performance. The paper proposes a compound scaling method that scales all "
      "three dimensions uniformly with one compound coefficient, demonstrates it on scaling "
      "up MobileNets and ResNet, and uses neural architecture search to design a new baseline "
      "network, scaled up into a family of models called EfficientNets. EfficientNet-B7 "
      "achieves 84.3% top-1 accuracy on ImageNet while being 8.4x smaller and 6.1x faster on "
      "inference than the best existing ConvNet. EfficientNets also transfer well, reaching "
      "state-of-the-art accuracy on CIFAR-100 (91.7%), Flowers (98.8%) and 3 other transfer "
      "learning datasets with an order of magnitude fewer parameters."),
     ("Method",
      "Scaling up a single dimension (a deeper, wider or higher-resolution network) improves "
      "accuracy, but the gain quickly saturates for bigger models. Compound scaling uses one "
      "coefficient phi to set the depth d = alpha^phi, the width w = beta^phi and the "
      "resolution r = gamma^phi, with alpha * beta^2 * gamma^2 close to 2, so that the FLOPS "
      "of the network grow by about 2^phi.\n\n"
      "A small grid search on the baseline gives alpha = 1.2, beta = 1.1 and gamma = 1.15; "
      "fixing them and raising phi yields EfficientNet-B1 to B7. The baseline, "
      "EfficientNet-B0, comes from a multi-objective neural architecture search that "
      "optimises both accuracy and FLOPS, with a target of 400M FLOPS; its main building "
      "block is the mobile inverted bottleneck MBConv with squeeze-and-excitation."),
     ("Results",
      "Table 2 lists the family on ImageNet. EfficientNet-B0 reaches 77.1% top-1 accuracy "
      "with 5.3M parameters and 0.39B FLOPs, above ResNet-50 at 76.0% with 26M parameters "
      "and 4.1B FLOPs: 4.9x fewer parameters and 11x fewer FLOPs. At the top of the family, "
      "EfficientNet-B7 reaches 84.3% top-1 accuracy with 66M parameters and 37B FLOPs, the "
      "accuracy of GPipe, which needs 556M parameters.\n\n"
      "Latency is measured with batch size 1 on a single core of an Intel Xeon CPU E5-2690: "
      "EfficientNet-B1 runs in 0.098s against 0.554s for ResNet-152, a 5.7x speedup, and "
      "EfficientNet-B7 in 3.1s against 19.0s for GPipe, a 6.1x speedup."),
     ("Limitations",
      "The scaling coefficients are searched once, on the small baseline, and kept for every "
      "larger model: searching them directly on a large model could do better, but the "
      "search cost becomes prohibitive. Latency is compared for two pairs of models on one "
      "CPU core; elsewhere, parameters and FLOPS stand for efficiency.")),
    tables=(Table(
        "Results",
        "Table 2. EfficientNet performance results on ImageNet (single-crop, single-model).",
        ("Model", "Top-1 Acc.", "Top-5 Acc.", "#Params", "#FLOPs"),
        (("EfficientNet-B0", "77.1%", "93.3%", "5.3M", "0.39B"),
         ("EfficientNet-B1", "79.1%", "94.4%", "7.8M", "0.70B"),
         ("EfficientNet-B2", "80.1%", "94.9%", "9.2M", "1.0B"),
         ("EfficientNet-B3", "81.6%", "95.7%", "12M", "1.8B"),
         ("EfficientNet-B4", "82.9%", "96.4%", "19M", "4.2B"),
         ("EfficientNet-B5", "83.6%", "96.7%", "30M", "9.9B"),
         ("EfficientNet-B6", "84.0%", "96.8%", "43M", "19B"),
         ("EfficientNet-B7", "84.3%", "97.0%", "66M", "37B")),
        (2.0, 1.0, 1.0, 1.0, 1.0)),),
    columns=2)

VIT = PaperDigest(
    "vit", "An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale",
    "Alexey Dosovitskiy, Lucas Beyer, Alexander Kolesnikov, Dirk Weissenborn, Xiaohua Zhai, "
    "Thomas Unterthiner, Mostafa Dehghani, Matthias Minderer, Georg Heigold, Sylvain Gelly, "
    "Jakob Uszkoreit, Neil Houlsby", "arXiv:2010.11929 (ICLR 2021)",
    (("Abstract",
      "While the Transformer has become the standard architecture for natural language "
      "processing, in vision attention has been applied together with convolutional networks "
      "or has replaced parts of them. The paper shows that this reliance on CNNs is not "
      "necessary: a pure Transformer applied directly to sequences of image patches performs "
      "very well on image classification. Pre-trained on large amounts of data and "
      "transferred to mid-sized or small image recognition benchmarks (ImageNet, CIFAR-100, "
      "VTAB), the Vision Transformer (ViT) attains excellent results compared to "
      "state-of-the-art convolutional networks, while requiring substantially fewer "
      "computational resources to train."),
     ("Method",
      "An image is split into fixed-size patches; each patch is flattened and linearly "
      "projected to the model's hidden size, position embeddings are added, and a learnable "
      "classification token is prepended. The sequence goes through a standard Transformer "
      "encoder, and an MLP head on the classification token gives the class. The sequence "
      "length is inversely proportional to the square of the patch size, so models with "
      "smaller patches are more expensive to compute.\n\n"
      "The configurations follow BERT: ViT-Base and ViT-Large, with the larger ViT-Huge "
      "added (Table 1). ViT-L/16 denotes the Large variant with 16x16 input patches. Apart "
      "from cutting the image into patches, the model has much less image-specific inductive "
      "bias than a CNN."),
     ("Results",
      "The models are pre-trained on ImageNet (1.3M images), ImageNet-21k (14M images) or "
      "JFT-300M (303M images), then fine-tuned on each benchmark. Table 2 compares them with "
      "the state of the art. ViT-H/14 pre-trained on JFT-300M reaches 88.55% on ImageNet, "
      "99.50% on CIFAR-10, 94.55% on CIFAR-100 and 77.63% on VTAB, a suite of 19 tasks, with "
      "2.5k TPUv3-core-days of pre-training. BiT-L, a ResNet152x4 pre-trained on the same "
      "data, reaches 87.54% on ImageNet with 9.9k TPUv3-core-days, and Noisy Student, an "
      "EfficientNet-L2, reaches 88.4% with 12.3k TPUv3-core-days.\n\n"
      "The smaller ViT-L/16 pre-trained on JFT-300M reaches 87.76% on ImageNet with 0.68k "
      "TPUv3-core-days. ViT-L/16 pre-trained on the public ImageNet-21k dataset reaches "
      "85.30% on ImageNet and takes fewer resources to pre-train: it could be trained on a "
      "standard cloud TPUv3 with 8 cores in approximately 30 days."),
     ("Pre-training data",
      "The size of the pre-training dataset decides. Pre-trained on ImageNet alone, ViT-Large "
      "models underperform ViT-Base models, and the Vision Transformers do worse than BiT "
      "ResNets of comparable size; with ImageNet-21k their performance is similar, and only "
      "with JFT-300M do the larger models show their full benefit. Without the translation "
      "equivariance and locality of convolutions, a Transformer does not generalise well when "
      "trained on insufficient amounts of data."),
     ("Limitations",
      "Applying ViT to other computer vision tasks, such as detection and segmentation, is "
      "left open. Self-supervised pre-training with masked patch prediction brings ViT-B/16 "
      "to 79.9% on ImageNet, a 2% improvement over training from scratch but still 4% behind "
      "supervised pre-training.")),
    tables=(
        Table("Method", "Table 1. Details of Vision Transformer model variants.",
              ("Model", "Layers", "Hidden size D", "MLP size", "Heads", "Params"),
              (("ViT-Base", "12", "768", "3072", "12", "86M"),
               ("ViT-Large", "24", "1024", "4096", "16", "307M"),
               ("ViT-Huge", "32", "1280", "5120", "16", "632M")),
              (1.6, 1.0, 1.3, 1.0, 1.0, 1.0)),
        Table("Results",
              "Table 2. Comparison with the state of the art on popular image classification "
              "benchmarks: accuracy (%), and the pre-training compute in TPUv3-core-days "
              "(a subset of the paper's columns).",
              ("Model (pre-training)", "ImageNet", "ReaL", "CIFAR-10", "CIFAR-100", "VTAB",
               "TPUv3-core-days"),
              (("ViT-H/14 (JFT)", "88.55", "90.72", "99.50", "94.55", "77.63", "2.5k"),
               ("ViT-L/16 (JFT)", "87.76", "90.54", "99.42", "93.90", "76.28", "0.68k"),
               ("ViT-L/16 (I21k)", "85.30", "88.62", "99.15", "93.25", "72.72", "0.23k"),
               ("BiT-L (ResNet152x4)", "87.54", "90.54", "99.37", "93.51", "76.29", "9.9k"),
               ("Noisy Student (EfficientNet-L2)", "88.4", "90.55", "-", "-", "-", "12.3k")),
              (3.0, 1.1, 1.0, 1.1, 1.2, 1.0, 1.7))),
    page_breaks=("Results",))

DEIT = PaperDigest(
    "deit", "Training data-efficient image transformers & distillation through attention",
    "Hugo Touvron, Matthieu Cord, Matthijs Douze, Francisco Massa, Alexandre Sablayrolles, "
    "Herve Jegou", "arXiv:2012.12877 (ICML 2021)",
    (("Abstract",
      "Neural networks purely based on attention have been shown to address image "
      "classification, but these vision transformers were pre-trained with hundreds of "
      "millions of images using an expensive infrastructure, which limits their adoption. "
      "DeiT produces competitive convolution-free transformers by training on ImageNet only, "
      "on a single computer in less than 3 days. The reference vision transformer (86M "
      "parameters) achieves 83.1% top-1 accuracy (single-crop evaluation) on ImageNet with "
      "no external data. The paper also introduces a teacher-student strategy specific to "
      "transformers: a distillation token ensures that the student learns from the teacher "
      "through attention. This token-based distillation works best with a convnet as the "
      "teacher, and gives results competitive with convnets both on ImageNet, where it "
      "reaches up to 85.2% accuracy, and when transferring to other tasks."),
     ("Method",
      "DeiT keeps the architecture of ViT and changes how it is trained: strong data "
      "augmentation (RandAugment, Mixup, CutMix, random erasing), repeated augmentation, "
      "stochastic depth and the AdamW optimiser, for 300 epochs at resolution 224, "
      "optionally followed by fine-tuning at resolution 384.\n\n"
      "For distillation, a distillation token is added to the class and patch tokens. It "
      "interacts with them through self-attention, and its output is trained to reproduce "
      "the label predicted by the teacher (hard-label distillation), while the class token "
      "is trained on the true label; at test time the two heads are fused. The teacher is a "
      "RegNetY-16GF convnet, and a convnet teacher gives better results than a transformer "
      "teacher."),
     ("Results",
      "Table 1 reports each model's throughput: the number of images processed per second "
      "on one 16GB V100 GPU with the largest possible batch size. DeiT-Ti, with 5M "
      "parameters, processes 2536.5 images/s at 72.2% top-1 accuracy; DeiT-S, with 22M "
      "parameters, 940.4 images/s at 79.8%; DeiT-B, with 86M parameters, 292.3 images/s at "
      "81.8%. Fine-tuned at resolution 384, DeiT-B reaches 83.1% at 85.9 images/s.\n\n"
      "The distilled DeiT-B (87M parameters) reaches 83.4% at 290.9 images/s, and 85.2% at "
      "resolution 384 after 1000 epochs of training. For comparison, ViT-B/16 and ViT-L/16 "
      "trained on ImageNet only reach 77.9% and 76.5%, and EfficientNet-B7 reaches 84.3% at "
      "55.1 images/s."),
     ("Training cost",
      "A typical training of 300 epochs takes 37 hours with 2 nodes or 53 hours on a single "
      "node for DeiT-B; a similar training of the RegNetY-16GF teacher (84M parameters) is "
      "20% slower. DeiT-S and DeiT-Ti are trained in less than 3 days on 4 GPUs. Fine-tuning "
      "DeiT-B at resolution 384 takes 20 hours on a single node of 8 GPUs, which corresponds "
      "to 25 epochs."),
     ("Limitations",
      "Trained on ImageNet alone, the transformers depend on heavy data augmentation and "
      "regularisation, and the best results on a convnet teacher. Throughput is measured on "
      "one type of GPU.")),
    tables=(Table(
        "Results",
        "Table 1. Throughput (images/s on one 16GB V100 GPU) and top-1 accuracy (%) on "
        "ImageNet of DeiT, of ViT trained on ImageNet only, and of EfficientNet-B7.",
        ("Network", "Params", "Image size", "Images/s", "Top-1"),
        (("ViT-B/16", "86M", "384", "85.9", "77.9"),
         ("ViT-L/16", "307M", "384", "27.3", "76.5"),
         ("DeiT-Ti", "5M", "224", "2536.5", "72.2"),
         ("DeiT-S", "22M", "224", "940.4", "79.8"),
         ("DeiT-B", "86M", "224", "292.3", "81.8"),
         ("DeiT-B (384)", "86M", "384", "85.9", "83.1"),
         ("DeiT-B distilled", "87M", "224", "290.9", "83.4"),
         ("DeiT-B distilled (384, 1000 epochs)", "87M", "384", "85.8", "85.2"),
         ("EfficientNet-B7", "66M", "600", "55.1", "84.3")),
        (3.0, 1.0, 1.0, 1.0, 1.0)),),
    page_breaks=("Training cost",))

VISION = (RESNET, MOBILENETV2, EFFICIENTNET, VIT, DEIT)
