//! The built-in spaces.

use super::Block;
use super::grid::{Family, Space, Stem};

/// The cell grid of FLASH's space: widths `w0, 2 w0, ..., 8 w0`, depths 3..=12 and skip budgets
/// `0, t0, ..., 49 t0` (4000 choices a cell), three cells, ten classes.
fn densenet_space(
    name: &'static str,
    description: &'static str,
    input_shape: [u64; 3],
    width_step: u64,
    tc_step: u64,
) -> Space {
    Space {
        num_cells: 3,
        widths: (1..=8).map(|i| width_step * i).collect(),
        depths: (3..=12).collect(),
        tcs: (0..50).map(|i| tc_step * i).collect(),
        ..Space::with_empty_grid(name, description, Family::Densenet, input_shape, 10)
    }
}

/// ResNet-type stages: basic or bottleneck blocks, inner width multiplier 1 or 2, 1 to 8 blocks.
fn resnet_space(
    name: &'static str,
    description: &'static str,
    input_shape: [u64; 3],
    num_classes: u64,
    widths: Vec<u64>,
    stem: Stem,
) -> Space {
    Space {
        num_cells: if stem.max_pool { 4 } else { 3 },
        widths,
        depths: (1..=8).collect(),
        blocks: vec![Block::Basic, Block::Bottleneck],
        multipliers: vec![1, 2],
        stem: Some(stem),
        ..Space::with_empty_grid(name, description, Family::Resnet, input_shape, num_classes)
    }
}

/// MobileNetV2-type stages: expansion 3 or 6, depthwise kernel 3 or 5, 1 to 4 blocks, and a
/// 1280-channel 1x1 convolution before the pooling.
fn mobilenet_space(
    name: &'static str,
    description: &'static str,
    input_shape: [u64; 3],
    num_classes: u64,
    num_cells: usize,
    widths: Vec<u64>,
    stem_stride: u64,
) -> Space {
    Space {
        expansions: vec![3, 6],
        kernels: vec![3, 5],
        stem: Some(Stem {
            width: 32,
            kernel: 3,
            stride: stem_stride,
            max_pool: false,
        }),
        head_width: Some(1280),
        num_cells,
        widths,
        depths: (1..=4).collect(),
        ..Space::with_empty_grid(
            name,
            description,
            Family::Mobilenet,
            input_shape,
            num_classes,
        )
    }
}

pub(super) static SPACES: std::sync::LazyLock<Vec<Space>> = std::sync::LazyLock::new(|| {
    vec![
        densenet_space(
            "flash-densenet",
            "FLASH's DenseNet-type cell network on CIFAR-10-shaped input (3x32x32, 10 classes)",
            [3, 32, 32],
            16,
            8,
        ),
        densenet_space(
            "flash-densenet-digits",
            "The same cells, half as wide, on 8x8 grey digits (1x8x8, 10 classes): small enough to \
             train on a CPU, for the committed accuracy data",
            [1, 8, 8],
            8,
            4,
        ),
        resnet_space(
            "flash-resnet",
            "ResNet / Wide-ResNet-type stages on CIFAR-10-shaped input (3x32x32, 10 classes): a \
             3x3 stem of 16 channels, three stages of 1 to 8 basic or bottleneck blocks",
            [3, 32, 32],
            10,
            vec![16, 32, 48, 64, 96, 128, 192, 256],
            Stem {
                width: 16,
                kernel: 3,
                stride: 1,
                max_pool: false,
            },
        ),
        resnet_space(
            "flash-resnet-imagenet",
            "The same blocks on ImageNet-shaped input (3x224x224, 1000 classes): ResNet's 7x7 \
             stem and max pool, four stages; ResNet-18 and -34 are points of it",
            [3, 224, 224],
            1000,
            vec![64, 128, 256, 512, 1024, 2048],
            Stem {
                width: 64,
                kernel: 7,
                stride: 2,
                max_pool: true,
            },
        ),
        mobilenet_space(
            "flash-mobilenet",
            "MobileNetV2-type inverted residual stages on CIFAR-10-shaped input (3x32x32, 10 \
             classes): a 3x3 stem of 32 channels, four stages of 1 to 4 blocks",
            [3, 32, 32],
            10,
            4,
            vec![16, 24, 32, 48, 64, 96, 128, 160],
            1,
        ),
        mobilenet_space(
            "flash-mobilenet-imagenet",
            "The same blocks on ImageNet-shaped input (3x224x224, 1000 classes): a stride-2 stem, \
             five stages",
            [3, 224, 224],
            1000,
            5,
            vec![16, 24, 32, 48, 64, 96, 160, 320],
            2,
        ),
    ]
});
