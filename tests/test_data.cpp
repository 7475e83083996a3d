// Tests for src/data: fashion-scenes, cityscapes, folder, augmentation and the training stream.

#include "src/core/error.h"
#include "src/data/dataset.h"
#include "src/data/idx.h"
#include "src/data/image_io.h"
#include "src/data/item_sprite.h"
#include "src/data/loader.h"
#include "tests/test_helpers.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

namespace fs = std::filesystem;
using cwd::data::DataConfig;
using cwd::data::RawSample;
using cwd::data::SegDataset;
using cwd::data::Split;
using cwd::testing::error_of;
using cwd::testing::TempDir;

namespace {

const char* kFashionRoot = "/usr/share/datasets/fashion-mnist";

DataConfig small_scenes(uint64_t seed = 0) {
  DataConfig config;
  config.train_size = 20;
  config.val_size = 20;
  config.height = 64;
  config.width = 128;
  config.seed = seed;
  return config;
}

/// Datasets built once per test binary (the train IDX files take a moment to read).
/// Tests use the val split (10000 items, quick to read) unless they need the train split.
std::shared_ptr<const SegDataset> scenes(Split split) {
  if (split == Split::kVal) {
    static const auto val = cwd::data::make_dataset(small_scenes(), Split::kVal);
    return val;
  }
  static const auto train = cwd::data::make_dataset(small_scenes(), Split::kTrain);
  return train;
}

bool same(const torch::Tensor& a, const torch::Tensor& b) {
  return a.sizes() == b.sizes() && a.scalar_type() == b.scalar_type() && torch::equal(a, b);
}

/// FNV-1a over the bytes of a uint8 tensor.
uint64_t fnv1a(const torch::Tensor& t) {
  const torch::Tensor c = t.contiguous();
  const uint8_t* p = c.data_ptr<uint8_t>();
  uint64_t h = 0xcbf29ce484222325ULL;
  for (int64_t i = 0; i < c.numel(); ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

/// Labels of a Fashion-MNIST IDX label file, read independently of the library.
std::vector<uint8_t> read_idx_labels(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  EXPECT_NE(f, nullptr) << path;
  if (f == nullptr) return {};
  uint8_t header[8];
  EXPECT_EQ(gzread(f, header, 8), 8);
  const uint32_t n = (uint32_t{header[4]} << 24) | (uint32_t{header[5]} << 16) |
                     (uint32_t{header[6]} << 8) | header[7];
  std::vector<uint8_t> labels(n);
  EXPECT_EQ(gzread(f, labels.data(), n), static_cast<int>(n));
  gzclose(f);
  return labels;
}

/// Skips a test that reads or writes image files when the build has no OpenCV.
#define SKIP_WITHOUT_OPENCV()          \
  if (!cwd::data::detail::have_opencv()) \
  GTEST_SKIP() << "this build has no OpenCV to read or write image files"

/// Writes a uint8 H×W×3 RGB image or H×W label map as PNG (JPEG for a .jpg name).
void write_png(const fs::path& path, const torch::Tensor& pixels) {
  fs::create_directories(path.parent_path());
  const int channels = pixels.dim() == 3 ? 3 : 1;
  ASSERT_TRUE(cwd::data::detail::write_png(pixels.contiguous().data_ptr<uint8_t>(),
                                           static_cast<int>(pixels.size(0)),
                                           static_cast<int>(pixels.size(1)), channels, path.string()))
      << path;
}

torch::Tensor label_image(int rows, int cols, std::initializer_list<int> values) {
  torch::Tensor m = torch::empty({rows, cols}, torch::kUInt8);
  uint8_t* p = m.data_ptr<uint8_t>();
  auto it = values.begin();
  for (int i = 0; i < rows * cols; ++i) {
    p[i] = static_cast<uint8_t>(*it);
    if (++it == values.end()) it = values.begin();
  }
  return m;
}

/// RGB: red = 7·seed, green = y, blue = seed + x.
torch::Tensor colour_image(int rows, int cols, int seed) {
  torch::Tensor m = torch::empty({rows, cols, 3}, torch::kUInt8);
  uint8_t* p = m.data_ptr<uint8_t>();
  for (int y = 0; y < rows; ++y) {
    for (int x = 0; x < cols; ++x, p += 3) {
      p[0] = static_cast<uint8_t>(seed * 7);
      p[1] = static_cast<uint8_t>(y);
      p[2] = static_cast<uint8_t>(seed + x);
    }
  }
  return m;
}

}  // namespace

// ---- fashion-scenes ---------------------------------------------------------------------------

TEST(FashionScenes, SameKeyGivesSameSceneAndSeedChangesIt) {
  const auto a = scenes(Split::kVal);
  const auto b = cwd::data::make_dataset(small_scenes(), Split::kVal);  // loaded separately
  const auto c = cwd::data::make_dataset(small_scenes(7), Split::kVal);
  for (int64_t i : {0, 3, 19}) {
    const RawSample x = a->get(i), y = b->get(i), z = c->get(i);
    EXPECT_EQ(x.image.sizes(), (std::vector<int64_t>{64, 128, 3}));
    EXPECT_EQ(x.image.scalar_type(), torch::kUInt8);
    EXPECT_EQ(x.label.sizes(), (std::vector<int64_t>{64, 128}));
    EXPECT_TRUE(same(x.image, y.image) && same(x.label, y.label)) << "scene " << i;
    EXPECT_FALSE(same(x.image, z.image)) << "seed 7 should change scene " << i;
  }
  EXPECT_FALSE(same(a->get(0).image, a->get(1).image));
  EXPECT_NE(a->identity(), c->identity());
}

TEST(FashionScenes, ThreadsDoNotChangeScenes) {
  const auto ds = scenes(Split::kVal);
  std::vector<RawSample> first(8), second(8);
  std::thread t1([&] {
    for (int i = 0; i < 8; ++i) first[i] = ds->get(i);
  });
  std::thread t2([&] {
    for (int i = 7; i >= 0; --i) second[i] = ds->get(i);
  });
  t1.join();
  t2.join();
  for (int i = 0; i < 8; ++i) {
    EXPECT_TRUE(same(first[i].image, second[i].image) && same(first[i].label, second[i].label));
  }
}

TEST(FashionScenes, GoldenChecksumOfSceneZero) {
  // Pins the generator across runs and platforms. If a deliberate change to the scenes breaks
  // this, bump kGenerator in fashion_scenes.cpp and update the numbers.
  const RawSample s = scenes(Split::kTrain)->get(0);
  EXPECT_EQ(fnv1a(s.image), 0x7e7e950a8dcaab10ULL);
  EXPECT_EQ(fnv1a(s.label), 0x7d66c9825bb236f4ULL);
  const RawSample v = scenes(Split::kVal)->get(0);
  EXPECT_EQ(fnv1a(v.image), 0x7c1546764b0d751cULL);
  EXPECT_EQ(fnv1a(v.label), 0x61bd9de1d026095eULL);
}

TEST(FashionScenes, TrainAndValDrawItemsFromTheirOwnSplit) {
  const auto train = scenes(Split::kTrain), val = scenes(Split::kVal);
  EXPECT_EQ(train->identity()["source"],
            nlohmann::json({"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"}));
  EXPECT_EQ(val->identity()["source"],
            nlohmann::json({"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}));
  EXPECT_EQ(train->identity()["split"], "train");
  EXPECT_EQ(val->identity()["split"], "val");
  // The item's class must match the label file of the split it claims to come from: items drawn
  // from the other split would match only by chance (1 in 10 per item, ~100 items).
  const auto train_labels =
      read_idx_labels(std::string(kFashionRoot) + "/train-labels-idx1-ubyte.gz");
  const auto val_labels = read_idx_labels(std::string(kFashionRoot) + "/t10k-labels-idx1-ubyte.gz");
  int64_t beyond_t10k = 0, items = 0;
  for (int64_t i = 0; i < 20; ++i) {
    for (const auto& item : cwd::data::fashion_scene_items(*val, i)) {
      ASSERT_EQ(item.source, "t10k");
      ASSERT_LT(item.source_index, 10000);
      EXPECT_EQ(item.class_id, val_labels[item.source_index] + 1);
      ++items;
    }
    for (const auto& item : cwd::data::fashion_scene_items(*train, i)) {
      ASSERT_EQ(item.source, "train");
      ASSERT_LT(item.source_index, 60000);
      EXPECT_EQ(item.class_id, train_labels[item.source_index] + 1);
      beyond_t10k += item.source_index >= 10000;
    }
  }
  // Same (split-independent) key, different item source: train and val scenes differ.
  EXPECT_FALSE(same(train->get(0).image, val->get(0).image));
  EXPECT_GT(items, 40);
  EXPECT_GT(beyond_t10k, 20);  // train items span the whole 60000-item split
}

TEST(FashionScenes, LabelsAreClassesOrIgnoreAndCoverTheClasses) {
  const auto ds = scenes(Split::kVal);
  EXPECT_EQ(ds->num_classes(), 11);
  EXPECT_EQ(ds->class_names().front(), "background");
  EXPECT_EQ(ds->class_names().back(), "ankle-boot");
  std::vector<int64_t> histogram(256, 0);
  for (int64_t i = 0; i < ds->size(); ++i) {
    const RawSample s = ds->get(i);
    std::set<int64_t> allowed = {0, 255};
    for (const auto& item : cwd::data::fashion_scene_items(*ds, i)) allowed.insert(item.class_id);
    const uint8_t* l = s.label.data_ptr<uint8_t>();
    for (int64_t k = 0; k < s.label.numel(); ++k) {
      ASSERT_TRUE(allowed.count(l[k]))
          << "scene " << i << " has label " << int(l[k]) << " but no such item";
      ++histogram[l[k]];
    }
  }
  const double total = 20.0 * 64 * 128;
  int classes_seen = 0;
  for (int c = 1; c <= 10; ++c) classes_seen += histogram[c] > 0;
  EXPECT_GE(classes_seen, 8);
  EXPECT_GT(histogram[0] / total, 0.5);  // mostly background ...
  EXPECT_LT(histogram[0] / total, 0.97);
  EXPECT_GT(histogram[255] / total, 0.0);  // ... some uncertain edges, but not many
  EXPECT_LT(histogram[255] / total, 0.05);
}

TEST(FashionScenes, HoldoutAndLimitCarveTheTrainSplit) {
  DataConfig config = small_scenes();
  config.holdout = 5;
  const auto train = cwd::data::make_dataset(config, Split::kTrain);
  const auto holdout = cwd::data::make_dataset(config, Split::kHoldout);
  EXPECT_EQ(train->size(), 15);
  EXPECT_EQ(holdout->size(), 5);
  EXPECT_EQ(holdout->identity()["split"], "holdout");
  EXPECT_TRUE(same(holdout->get(0).image, scenes(Split::kTrain)->get(15).image));
  EXPECT_TRUE(same(train->get(14).label, scenes(Split::kTrain)->get(14).label));
  EXPECT_EQ(cwd::data::fashion_scene_items(*holdout, 4).front().source, "train");
  config.limit = 3;
  EXPECT_EQ(cwd::data::make_dataset(config, Split::kVal)->size(), 3);
  config.holdout = 20;
  EXPECT_NE(error_of([&] {
              cwd::data::make_dataset(config, Split::kTrain);
            }).find("holdout 20 leaves no training images"),
            std::string::npos);
  EXPECT_NE(
      error_of([&] { cwd::data::make_dataset(small_scenes(), Split::kHoldout); }).find("--holdout"),
      std::string::npos);
}

TEST(FashionScenes, MissingPackageSaysHowToInstallIt) {
  DataConfig config = small_scenes();
  config.root = "/nonexistent/fashion-mnist";
  EXPECT_EQ(error_of([&] { cwd::data::make_dataset(config, Split::kTrain); }),
            "fashion-scenes: /nonexistent/fashion-mnist/train-images-idx3-ubyte.gz not found; "
            "install the data package with 'apt-get install -y dataset-fashion-mnist' or pass "
            "--data-root DIR");
  EXPECT_NE(error_of([&] {
              cwd::data::make_dataset(config, Split::kVal);
            }).find("apt-get install -y dataset-fashion-mnist"),
            std::string::npos);
}

TEST(FashionScenes, TruncatedOrWrongIdxFileIsNamed) {
  TempDir dir("idx");
  for (const char* name : {"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}) {
    fs::copy_file(fs::path(kFashionRoot) / name, dir / name);
  }
  DataConfig config = small_scenes();
  config.root = dir.str();
  EXPECT_EQ(cwd::data::make_dataset(config, Split::kVal)->size(), 20);  // the copy works
  const fs::path images = dir / "t10k-images-idx3-ubyte.gz";
  fs::resize_file(images, fs::file_size(images) / 2);
  std::string message = error_of([&] { cwd::data::make_dataset(config, Split::kVal); });
  EXPECT_NE(message.find(images.string() + " is truncated or corrupt"), std::string::npos)
      << message;
  // A well-formed gzip whose content is not an IDX image file.
  gzFile f = gzopen(images.string().c_str(), "wb");
  ASSERT_NE(f, nullptr);
  const char junk[] = "this is not an IDX file at all";
  gzwrite(f, junk, sizeof(junk));
  gzclose(f);
  message = error_of([&] { cwd::data::make_dataset(config, Split::kVal); });
  EXPECT_NE(message.find(images.string()), std::string::npos) << message;
  EXPECT_NE(message.find("magic number"), std::string::npos) << message;
}

// ---- the IDX reader and the item sprite (private parts of fashion-scenes) ---------------------

namespace {

constexpr char kReinstall[] =
    "; reinstall it with 'apt-get install --reinstall -y dataset-fashion-mnist' or pass "
    "--data-root DIR";

/// IDX header words, big-endian.
std::string be32(std::initializer_list<uint32_t> words) {
  std::string out;
  for (uint32_t w : words) {
    for (int shift : {24, 16, 8, 0}) out.push_back(static_cast<char>((w >> shift) & 0xff));
  }
  return out;
}

void write_gz(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
            static_cast<int>(bytes.size()));
  gzclose(f);
}

/// `count` items of rows×cols pixels; pixel k of item i is (i + k) % 256.
std::string idx_images(uint32_t count, uint32_t rows = 28, uint32_t cols = 28,
                       uint32_t magic = 0x00000803) {
  std::string out = be32({magic, count, rows, cols});
  for (uint32_t i = 0; i < count; ++i) {
    for (uint32_t k = 0; k < rows * cols; ++k) out.push_back(static_cast<char>((i + k) % 256));
  }
  return out;
}

std::string idx_labels(const std::string& labels, uint32_t magic = 0x00000801) {
  return be32({magic, static_cast<uint32_t>(labels.size())}) + labels;
}

/// Writes train-{images,labels} into `dir` and returns the reader's error ("" if none).
std::string idx_error(const TempDir& dir, const std::string& images, const std::string& labels) {
  write_gz(dir / "train-images-idx3-ubyte.gz", images);
  write_gz(dir / "train-labels-idx1-ubyte.gz", labels);
  try {
    cwd::data::detail::load_item_bank(dir.str(), "train");
  } catch (const cwd::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(IdxReader, ReadsImagesAndLabels) {
  TempDir dir("idx-ok");
  ASSERT_EQ(idx_error(dir, idx_images(3), idx_labels({0, 9, 4})), "");
  const auto bank = cwd::data::detail::load_item_bank(dir.str(), "train");
  EXPECT_EQ(bank->source, "train");
  EXPECT_EQ(bank->files,
            (std::vector<std::string>{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"}));
  ASSERT_EQ(bank->count, 3);
  ASSERT_EQ(bank->pixels.size(), 3u * 28 * 28);
  EXPECT_EQ(bank->pixels[2 * 784 + 5], 7);  // item 2, pixel 5
  EXPECT_EQ(bank->labels, (std::vector<uint8_t>{0, 9, 4}));
}

TEST(IdxReader, BadMagicNumberNamesFileFormatAndFix) {
  TempDir dir("idx-magic");
  const std::string images = dir / "train-images-idx3-ubyte.gz";
  EXPECT_EQ(idx_error(dir, idx_images(3, 28, 28, 0x00000802), idx_labels({0, 1, 2})),
            "fashion-scenes: " + images +
                " is truncated or corrupt (magic number 0x00000802, expected 0x00000803 for IDX "
                "ubyte images)" +
                kReinstall);
  const std::string labels = dir / "train-labels-idx1-ubyte.gz";
  EXPECT_EQ(idx_error(dir, idx_images(3), idx_labels({0, 1, 2}, 0x00000803)),
            "fashion-scenes: " + labels +
                " is truncated or corrupt (magic number 0x00000803, expected 0x00000801 for IDX "
                "ubyte labels)" +
                kReinstall);
}

TEST(IdxReader, WrongShapeCountsLabelsAndTrailingDataAreNamed) {
  TempDir dir("idx-bad");
  const auto has = [](const std::string& message, const std::string& part) {
    return message.find(part) != std::string::npos;
  };
  std::string m = idx_error(dir, idx_images(3, 27, 28), idx_labels({0, 1, 2}));
  EXPECT_TRUE(has(m, "header says 3 images of 27x28, expected 28x28 images")) << m;
  m = idx_error(dir, idx_images(3), idx_labels({0, 1}));
  EXPECT_TRUE(has(m, "2 labels for 3 images in train-images-idx3-ubyte.gz")) << m;
  m = idx_error(dir, idx_images(3), idx_labels({0, 10, 2}));
  EXPECT_TRUE(has(m, "label 10 of item 1 is not a class 0..9")) << m;
  m = idx_error(dir, idx_images(3) + "x", idx_labels({0, 1, 2}));
  EXPECT_TRUE(has(m, "unexpected data after the items")) << m;
  m = idx_error(dir, idx_images(3).substr(0, 100), idx_labels({0, 1, 2}));
  EXPECT_TRUE(has(m, "pixel data ends after 84 of 2352 bytes")) << m;
  fs::remove(dir / "train-labels-idx1-ubyte.gz");
  m = error_of([&] { cwd::data::detail::load_item_bank(dir.str(), "train"); });
  EXPECT_TRUE(has(m, "train-labels-idx1-ubyte.gz not found; install the data package")) << m;
}

TEST(ItemSprite, SilhouetteIsSolidAndLargeHolesStayOpen) {
  using cwd::data::detail::kItemSide;
  std::vector<uint8_t> item(cwd::data::detail::kItemPixels, 0);
  const auto px = [&](int y, int x) -> uint8_t& { return item[y * kItemSide + x]; };
  for (int y = 4; y < 24; ++y) {
    for (int x = 4; x < 24; ++x) px(y, x) = 200;  // a bright square ...
  }
  px(8, 8) = px(8, 9) = px(9, 8) = px(9, 9) = 0;  // ... a small dark print (4 pixels) ...
  for (int y = 15; y < 18; ++y) {
    for (int x = 15; x < 18; ++x) px(y, x) = 0;  // ... a 3x3 hole (9 pixels) ...
  }
  px(20, 20) = 30;  // ... and a dim pixel inside
  const auto alpha = cwd::data::detail::item_alpha(item.data());
  const auto a = [&](int y, int x) { return alpha[static_cast<size_t>(y * kItemSide + x)]; };
  EXPECT_EQ(a(0, 0), 0.f);    // border-connected background
  EXPECT_EQ(a(12, 12), 1.f);  // clamp(1.5 · 200 / 255)
  EXPECT_EQ(a(8, 8), 0.9f);   // print: part of the garment
  EXPECT_EQ(a(20, 20), 0.9f);
  EXPECT_EQ(a(16, 16), 0.f);  // hole of kMinHole pixels or more
  // Samples at a pixel centre are that pixel; between pixels they interpolate.
  EXPECT_FLOAT_EQ(cwd::data::detail::sample_item(item.data(), 12.f, 12.f), 200.f / 255.f);
  EXPECT_EQ(cwd::data::detail::sample_map(alpha.data(), 12.f, 7.5f), 1.f);
  EXPECT_FLOAT_EQ(cwd::data::detail::sample_item(item.data(), 4.f, 3.5f), 100.f / 255.f);
}

TEST(Datasets, UnknownNameListsKnownOnes) {
  DataConfig config;
  config.name = "imagenet";
  EXPECT_EQ(error_of([&] { cwd::data::make_dataset(config, Split::kTrain); }),
            "unknown dataset 'imagenet' (known: cityscapes, fashion-scenes, folder)");
  EXPECT_EQ(cwd::data::to_string(Split::kHoldout), "holdout");
}

// ---- cityscapes -------------------------------------------------------------------------------

TEST(Cityscapes, TrainIdMapping) {
  EXPECT_EQ(cwd::data::cityscapes_class_names().size(), 19u);
  EXPECT_EQ(cwd::data::cityscapes_class_names()[13], "car");
  const int ids[] = {7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33};
  for (int t = 0; t < 19; ++t) EXPECT_EQ(cwd::data::cityscapes_train_id(ids[t]), t);
  for (int id : {-1, 0, 1, 6, 9, 10, 14, 15, 16, 18, 29, 30, 34, 255}) {
    EXPECT_EQ(cwd::data::cityscapes_train_id(id), 255) << id;
  }
}

TEST(Cityscapes, ReadsTheOfficialLayout) {
  SKIP_WITHOUT_OPENCV();
  TempDir dir("cityscapes");
  const auto image = [&](const std::string& split, const std::string& city,
                         const std::string& stem) {
    return dir / ("leftImg8bit/" + split + "/" + city + "/" + stem + "_leftImg8bit.png");
  };
  const auto label = [&](const std::string& split, const std::string& city,
                         const std::string& stem) {
    return dir / ("gtFine/" + split + "/" + city + "/" + stem + "_gtFine_labelIds.png");
  };
  // Two cities, written out of order; the dataset sorts them.
  write_png(image("train", "zurich", "zurich_000000_000019"), colour_image(4, 6, 1));
  write_png(label("train", "zurich", "zurich_000000_000019"), label_image(4, 6, {26}));
  write_png(image("train", "aachen", "aachen_000000_000019"), colour_image(4, 6, 2));
  write_png(label("train", "aachen", "aachen_000000_000019"),
            label_image(4, 6, {0, 7, 8, 26, 33, 34, 255, 24}));
  write_png(image("val", "lindau", "lindau_000000_000019"), colour_image(4, 6, 3));
  write_png(label("val", "lindau", "lindau_000000_000019"), label_image(4, 6, {23}));
  DataConfig config;
  config.name = "cityscapes";
  config.root = dir.str();
  const auto train = cwd::data::make_dataset(config, Split::kTrain);
  ASSERT_EQ(train->size(), 2);
  EXPECT_EQ(train->num_classes(), 19);
  EXPECT_EQ(train->ignore_index(), 255);
  const RawSample s = train->get(0);  // aachen
  EXPECT_EQ(s.image.sizes(), (std::vector<int64_t>{4, 6, 3}));
  // Channels keep their order through the file: colour_image(…, 2) has blue = 2 + x, red = 14.
  EXPECT_EQ(s.image[0][3][2].item<int>(), 5);
  EXPECT_EQ(s.image[0][3][0].item<int>(), 14);
  const std::vector<int> expected = {255, 0, 1, 13, 18, 255, 255, 11};
  for (int k = 0; k < 24; ++k) {
    EXPECT_EQ(s.label[k / 6][k % 6].item<int>(), expected[k % 8]) << "pixel " << k;
  }
  EXPECT_EQ(train->get(1).label[0][0].item<int>(), 13);  // zurich, car
  const auto val = cwd::data::make_dataset(config, Split::kVal);
  EXPECT_EQ(val->size(), 1);
  EXPECT_EQ(val->get(0).label[2][2].item<int>(), 10);  // sky
  EXPECT_EQ(val->identity()["name"], "cityscapes");
  EXPECT_EQ(val->identity()["split"], "val");

  // Holdout: the last image(s) of the sorted train list.
  config.holdout = 1;
  EXPECT_TRUE(
      same(cwd::data::make_dataset(config, Split::kHoldout)->get(0).label, train->get(1).label));
  config.holdout = 0;

  // The identity's content hash follows the file list.
  const auto hash_before = train->identity()["content_hash"];
  write_png(image("train", "bremen", "bremen_000000_000019"), colour_image(4, 6, 4));
  std::string message = error_of([&] { cwd::data::make_dataset(config, Split::kTrain); });
  EXPECT_NE(message.find("bremen_000000_000019_leftImg8bit.png has no label"), std::string::npos)
      << message;
  write_png(label("train", "bremen", "bremen_000000_000019"), label_image(4, 6, {7}));
  EXPECT_NE(cwd::data::make_dataset(config, Split::kTrain)->identity()["content_hash"],
            hash_before);

  config.root = dir.str() + "/missing";
  message = error_of([&] { cwd::data::make_dataset(config, Split::kTrain); });
  EXPECT_NE(message.find(config.root), std::string::npos) << message;
  EXPECT_NE(message.find("--data-root"), std::string::npos) << message;
}

// ---- folder -----------------------------------------------------------------------------------

TEST(Folder, PairsByNameAndByListFile) {
  SKIP_WITHOUT_OPENCV();
  TempDir dir("folder");
  write_png(dir / "images/train/b.jpg", colour_image(5, 7, 1));
  write_png(dir / "labels/train/b.png", label_image(5, 7, {1}));
  write_png(dir / "images/train/a.png", colour_image(5, 7, 2));
  write_png(dir / "labels/train/a.png", label_image(5, 7, {0, 2, 255}));
  write_png(dir / "images/val/c.png", colour_image(3, 3, 3));
  write_png(dir / "labels/val/c.png", label_image(3, 3, {2}));
  DataConfig config;
  config.name = "folder";
  config.root = dir.str();
  EXPECT_NE(
      error_of([&] { cwd::data::make_dataset(config, Split::kTrain); }).find("pass --num-classes"),
      std::string::npos);
  config.num_classes = 3;
  const auto train = cwd::data::make_dataset(config, Split::kTrain);
  ASSERT_EQ(train->size(), 2);
  EXPECT_EQ(train->get(0).label[0][1].item<int>(), 2);  // a.png first
  EXPECT_EQ(train->get(0).label[0][2].item<int>(), 255);
  EXPECT_EQ(train->get(1).label[4][6].item<int>(), 1);  // b.jpg ↔ b.png
  EXPECT_EQ(train->class_names(), (std::vector<std::string>{"class0", "class1", "class2"}));
  EXPECT_EQ(cwd::data::make_dataset(config, Split::kVal)->get(0).label[1][1].item<int>(), 2);

  // List files, relative to the root, in their own order.
  {
    std::ofstream list(dir / "train.txt");
    list << "# image label\n\nimages/val/c.png labels/val/c.png\nimages/train/a.png "
            "labels/train/a.png\n";
  }
  config.train_list = "train.txt";
  config.class_names = {"sky", "road", "car"};
  const auto listed = cwd::data::make_dataset(config, Split::kTrain);
  ASSERT_EQ(listed->size(), 2);
  EXPECT_EQ(listed->get(0).image.size(0), 3);  // c.png
  EXPECT_EQ(listed->get(1).image.size(0), 5);  // a.png
  EXPECT_EQ(listed->class_names()[2], "car");

  config.class_names = {"sky"};
  EXPECT_NE(error_of([&] {
              cwd::data::make_dataset(config, Split::kTrain);
            }).find("1 class names given for 3 classes"),
            std::string::npos);
}

TEST(Folder, BadFilesGiveOneLineNamingThem) {
  SKIP_WITHOUT_OPENCV();
  TempDir dir("badfiles");
  write_png(dir / "images/train/a.png", colour_image(32, 32, 1));
  write_png(dir / "labels/train/a.png", label_image(32, 32, {0, 1, 42}));
  write_png(dir / "images/train/b.png", colour_image(32, 32, 2));
  write_png(dir / "labels/train/b.png", label_image(32, 31, {0}));
  write_png(dir / "images/train/c.png", colour_image(64, 64, 3));
  write_png(dir / "labels/train/c.png", label_image(64, 64, {0}));
  write_png(dir / "images/train/d.png", colour_image(8, 8, 4));
  write_png(dir / "labels/train/d.png", colour_image(8, 8, 4));  // 3-channel label
  const fs::path truncated = dir / "images/train/c.png";
  fs::resize_file(truncated, fs::file_size(truncated) / 2);
  DataConfig config;
  config.name = "folder";
  config.root = dir.str();
  config.num_classes = 19;
  const auto ds = cwd::data::make_dataset(config, Split::kTrain);  // files are checked in get()
  ASSERT_EQ(ds->size(), 4);
  EXPECT_EQ(error_of([&] { ds->get(0); }),
            "label '" + dir / "labels/train/a.png" +
                "' has value 42, but there are 19 classes (0..18) and the ignore index is 255");
  std::string message = error_of([&] { ds->get(1); });
  EXPECT_NE(message.find(dir / "images/train/b.png"), std::string::npos) << message;
  EXPECT_NE(message.find(dir / "labels/train/b.png"), std::string::npos) << message;
  EXPECT_EQ(error_of([&] { ds->get(2); }),
            "cannot read image '" + truncated.string() + "' (a damaged PNG file: truncated); replace the file");
  EXPECT_NE(error_of([&] { ds->get(3); }).find("single-channel"), std::string::npos);
  EXPECT_EQ(message.find('\n'), std::string::npos);

  config.root = dir.str() + "/nope";
  message = error_of([&] { cwd::data::make_dataset(config, Split::kTrain); });
  EXPECT_NE(message.find(config.root + " not found"), std::string::npos) << message;
}

// ---- augmentation -----------------------------------------------------------------------------

TEST(Augment, NormalisesWithImageNetStatistics) {
  torch::Tensor image = torch::zeros({1, 2, 3}, torch::kUInt8);
  image[0][1][0] = 255;
  image[0][1][2] = 128;
  const torch::Tensor n = cwd::data::normalize_image(image);
  ASSERT_EQ(n.sizes(), (std::vector<int64_t>{3, 1, 2}));
  EXPECT_NEAR(n[0][0][0].item<float>(), -0.485f / 0.229f, 1e-5);
  EXPECT_NEAR(n[0][0][1].item<float>(), (1.f - 0.485f) / 0.229f, 1e-5);
  EXPECT_NEAR(n[1][0][1].item<float>(), -0.456f / 0.224f, 1e-5);
  EXPECT_NEAR(n[2][0][1].item<float>(), (128.f / 255.f - 0.406f) / 0.225f, 1e-5);
}

TEST(Augment, CropPadAndFlipAreReproducible) {
  const RawSample sample = scenes(Split::kVal)->get(2);
  cwd::data::AugmentConfig config;
  config.crop_h = 48;
  config.crop_w = 80;
  const auto a = cwd::data::augment_sample(sample, config, 255, 11);
  const auto b = cwd::data::augment_sample(sample, config, 255, 11);
  const auto c = cwd::data::augment_sample(sample, config, 255, 12);
  EXPECT_EQ(a.images.sizes(), (std::vector<int64_t>{3, 48, 80}));
  EXPECT_EQ(a.labels.sizes(), (std::vector<int64_t>{48, 80}));
  EXPECT_EQ(a.labels.scalar_type(), torch::kInt64);
  EXPECT_TRUE(same(a.images, b.images) && same(a.labels, b.labels));
  EXPECT_FALSE(same(a.images, c.images));

  // Half-size image in a full-size crop: the bottom/right is padding (0 and ignore).
  config.crop_h = 64;
  config.crop_w = 128;
  config.scale_min = config.scale_max = 0.5;
  config.flip = false;
  const auto small = cwd::data::augment_sample(sample, config, 255, 3);
  EXPECT_TRUE((small.labels.slice(0, 32) == 255).all().item<bool>());
  EXPECT_TRUE((small.labels.slice(1, 64) == 255).all().item<bool>());
  EXPECT_FALSE((small.labels.slice(0, 0, 32).slice(1, 0, 64) == 255).all().item<bool>());
  EXPECT_TRUE((small.images.slice(1, 32) == 0).all().item<bool>());

  // Scale 1 and a full crop: each seed gives the image or its mirror, both occur, and the
  // seed decides which.
  config.scale_min = config.scale_max = 1.0;
  config.flip = true;
  const torch::Tensor plain = cwd::data::normalize_image(sample.image);
  const torch::Tensor label = sample.label.to(torch::kInt64);
  int flipped = 0;
  for (uint64_t seed = 0; seed < 16; ++seed) {
    const auto out = cwd::data::augment_sample(sample, config, 255, seed);
    const bool is_flipped = same(out.images, plain.flip({2}));
    EXPECT_TRUE(is_flipped || same(out.images, plain)) << seed;
    EXPECT_TRUE(same(out.labels, is_flipped ? label.flip({1}) : label)) << seed;
    EXPECT_TRUE(same(cwd::data::augment_sample(sample, config, 255, seed).images, out.images));
    flipped += is_flipped;
  }
  EXPECT_GT(flipped, 0);
  EXPECT_LT(flipped, 16);
}

// A build without OpenCV rescales with the plain resizers: labels exactly as OpenCV's, images
// within one grey level.
TEST(Augment, PlainResizersMatchOpenCv) {
  SKIP_WITHOUT_OPENCV();
  using cwd::data::detail::Pixels;
  const torch::Tensor image = scenes(Split::kVal)->get(1).image.contiguous();
  const torch::Tensor label = scenes(Split::kVal)->get(1).label.contiguous();
  const int H = static_cast<int>(image.size(0)), W = static_cast<int>(image.size(1));
  for (const auto& [h, w] : std::vector<std::pair<int, int>>{
           {48, 96}, {80, 160}, {32, 64}, {128, 256}, {37, 141}, {71, 99}, {1, 3}, {200, 13}}) {
    const Pixels<uint8_t> a = cwd::data::detail::resize_linear(image.data_ptr<uint8_t>(), H, W, 3, h, w);
    const Pixels<uint8_t> b =
        cwd::data::detail::resize_linear_plain(image.data_ptr<uint8_t>(), H, W, 3, h, w);
    ASSERT_EQ(a.data.size(), b.data.size());
    int worst = 0;
    for (size_t i = 0; i < a.data.size(); ++i) worst = std::max(worst, std::abs(a.data[i] - b.data[i]));
    EXPECT_LE(worst, 1) << h << "x" << w;
    EXPECT_EQ(cwd::data::detail::resize_nearest(label.data_ptr<uint8_t>(), H, W, 1, h, w).data,
              cwd::data::detail::resize_nearest_plain(label.data_ptr<uint8_t>(), H, W, 1, h, w).data)
        << h << "x" << w;
  }
}

TEST(Augment, EvalSampleIsTheWholeNormalisedImage) {
  const auto batch = cwd::data::eval_sample(*scenes(Split::kVal), 4);
  EXPECT_EQ(batch.images.sizes(), (std::vector<int64_t>{1, 3, 64, 128}));
  EXPECT_EQ(batch.labels.sizes(), (std::vector<int64_t>{1, 64, 128}));
  EXPECT_EQ(batch.labels.scalar_type(), torch::kInt64);
  EXPECT_TRUE(same(batch.images[0], cwd::data::normalize_image(scenes(Split::kVal)->get(4).image)));
}

// ---- TrainStream ------------------------------------------------------------------------------

namespace {

/// Sample i is a 2×3 image whose label is all i; index `fail_at` throws.
class IndexDataset : public SegDataset {
 public:
  explicit IndexDataset(int64_t size, int64_t fail_at = -1) : size_(size), fail_at_(fail_at) {}
  int64_t size() const override { return size_; }
  RawSample get(int64_t index) const override {
    if (index == fail_at_) throw cwd::Error("sample " + std::to_string(index) + " is broken");
    return {torch::full({2, 3, 3}, index, torch::kUInt8),
            torch::full({2, 3}, index, torch::kUInt8)};
  }
  const std::vector<std::string>& class_names() const override { return names_; }
  nlohmann::json identity() const override { return {{"name", "index"}}; }

 private:
  int64_t size_, fail_at_;
  std::vector<std::string> names_ = std::vector<std::string>(250, "c");
};

cwd::data::AugmentConfig small_crops() {
  cwd::data::AugmentConfig config;
  config.crop_h = 48;
  config.crop_w = 96;
  return config;
}

}  // namespace

// A process of a multi-process run builds only its rows of each batch, each exactly as the whole
// batch has it (index, augmentation seed), resumed or not.
TEST(TrainStream, RowsAreThoseOfTheWholeBatch) {
  const auto ds = scenes(Split::kVal);
  cwd::data::TrainStream whole(ds, small_crops(), 4, 5, 0, 1);
  cwd::data::TrainStream first(ds, small_crops(), 4, 5, 0, 0, {0, 2});
  cwd::data::TrainStream second(ds, small_crops(), 4, 5, 0, 2, {2, 4});
  for (int i = 0; i < 6; ++i) {  // 24 samples: crosses an epoch boundary (20 scenes)
    const auto w = whole.next(), a = first.next(), b = second.next();
    EXPECT_EQ(a.images.size(0), 2);
    EXPECT_TRUE(same(a.images, w.images.narrow(0, 0, 2)) && same(a.labels, w.labels.narrow(0, 0, 2))) << i;
    EXPECT_TRUE(same(b.images, w.images.narrow(0, 2, 2)) && same(b.labels, w.labels.narrow(0, 2, 2))) << i;
  }
  cwd::data::TrainStream resumed(ds, small_crops(), 4, 5, 5, 0, {2, 4});
  cwd::data::TrainStream whole5(ds, small_crops(), 4, 5, 5, 0);
  EXPECT_TRUE(same(resumed.next().images, whole5.next().images.narrow(0, 2, 2)));
  EXPECT_THROW(cwd::data::TrainStream(ds, small_crops(), 4, 5, 0, 0, {3, 5}), cwd::Error);
  EXPECT_THROW(cwd::data::TrainStream(ds, small_crops(), 4, 5, 0, 0, {2, 2}), cwd::Error);
}

TEST(TrainStream, SameSeedSameBatchesWhateverTheWorkers) {
  const auto ds = scenes(Split::kVal);
  cwd::data::TrainStream one(ds, small_crops(), 4, 5, 0, 1);
  cwd::data::TrainStream three(ds, small_crops(), 4, 5, 0, 3);
  cwd::data::TrainStream inline_stream(ds, small_crops(), 4, 5, 0, 0);
  cwd::data::TrainStream other(ds, small_crops(), 4, 6, 0, 2);
  std::vector<cwd::data::Batch> reference;
  for (int i = 0; i < 7; ++i) {  // 28 samples: crosses an epoch boundary (20 scenes)
    const auto a = one.next(), b = three.next(), c = inline_stream.next(), d = other.next();
    EXPECT_EQ(a.images.sizes(), (std::vector<int64_t>{4, 3, 48, 96}));
    EXPECT_EQ(a.labels.sizes(), (std::vector<int64_t>{4, 48, 96}));
    EXPECT_TRUE(same(a.images, b.images) && same(a.labels, b.labels)) << "batch " << i;
    EXPECT_TRUE(same(a.images, c.images) && same(a.labels, c.labels)) << "batch " << i;
    EXPECT_FALSE(same(a.images, d.images)) << "batch " << i;
    reference.push_back(a);
  }
  // Resuming at iteration 4 continues exactly where an uninterrupted stream would be.
  cwd::data::TrainStream resumed(ds, small_crops(), 4, 5, 4, 2);
  for (int i = 4; i < 7; ++i) {
    const auto r = resumed.next();
    EXPECT_TRUE(same(r.images, reference[i].images) && same(r.labels, reference[i].labels))
        << "batch " << i;
  }
  EXPECT_GE(one.wait_seconds(), 0.0);
}

TEST(TrainStream, EachEpochVisitsEverySampleOnce) {
  auto ds = std::make_shared<IndexDataset>(10);
  cwd::data::AugmentConfig config;
  config.crop_h = 2;
  config.crop_w = 3;
  config.scale_min = config.scale_max = 1.0;
  config.flip = false;
  cwd::data::TrainStream stream(ds, config, 4, 1, 0, 2);
  std::vector<int64_t> order;
  for (int i = 0; i < 5; ++i) {  // 20 samples = 2 epochs
    const auto batch = stream.next();
    for (int k = 0; k < 4; ++k) order.push_back(batch.labels[k][0][0].item<int64_t>());
  }
  std::vector<int64_t> epoch0(order.begin(), order.begin() + 10);
  std::vector<int64_t> epoch1(order.begin() + 10, order.end());
  EXPECT_NE(epoch0, epoch1);  // reshuffled
  std::vector<int64_t> all(10);
  for (int i = 0; i < 10; ++i) all[i] = i;
  std::sort(epoch0.begin(), epoch0.end());
  std::sort(epoch1.begin(), epoch1.end());
  EXPECT_EQ(epoch0, all);
  EXPECT_EQ(epoch1, all);
}

TEST(TrainStream, WorkerErrorsReachTheConsumerAndEarlyStopJoins) {
  auto ds = std::make_shared<IndexDataset>(6, 4);
  cwd::data::AugmentConfig config;
  config.crop_h = 2;
  config.crop_w = 3;
  // Batch size 6 and one epoch: the first batch holds sample 4 and must fail.
  cwd::data::TrainStream stream(ds, config, 6, 1, 0, 3);
  EXPECT_EQ(error_of([&] { stream.next(); }), "sample 4 is broken");
  EXPECT_EQ(error_of([&] { stream.next(); }), "sample 4 is broken");  // stays failed
  {
    // Consumer stops after one batch while workers are mid-prefetch: the destructor joins.
    cwd::data::TrainStream early(scenes(Split::kVal), small_crops(), 8, 1, 0, 3);
    early.next();
  }
  EXPECT_NE(error_of([&] {
              cwd::data::TrainStream bad(std::make_shared<IndexDataset>(3), config, 0, 1, 0, 1);
            }).find("batch size"),
            std::string::npos);
}

// ---- preview ----------------------------------------------------------------------------------

TEST(Preview, WritesAGridPng) {
  SKIP_WITHOUT_OPENCV();
  TempDir dir("preview");
  const std::string path = dir / "preview.png";
  cwd::data::write_preview(*scenes(Split::kVal), 4, path);
  const torch::Tensor grid = cwd::data::detail::read_rgb(path);
  EXPECT_GT(grid.size(1), 4 * 128);
  EXPECT_GT(grid.size(0), 2 * 64);
  EXPECT_NE(error_of([&] {
              cwd::data::write_preview(*scenes(Split::kVal), 4, "/nonexistent/x.png");
            }).find("/nonexistent/x.png"),
            std::string::npos);
}

namespace {

// An export read back as a folder dataset gives the same pixels and labels.
TEST(Export, FolderDatasetReadsBackPixelForPixel) {
  SKIP_WITHOUT_OPENCV();
  TempDir dir("export");
  const std::string out = dir / "scenes";
  const auto meta = cwd::data::export_folder({{"val", scenes(Split::kVal)}}, out);
  EXPECT_EQ(meta["num_classes"], 11);
  EXPECT_EQ(meta["splits"]["val"]["size"], 20);
  EXPECT_TRUE(fs::exists(dir / "scenes/dataset.json"));
  DataConfig folder;
  folder.name = "folder";
  folder.root = out;
  folder.num_classes = 11;
  const auto back = cwd::data::make_dataset(folder, Split::kVal);
  ASSERT_EQ(back->size(), 20);
  for (int64_t i : {0, 7, 19}) {
    const auto a = scenes(Split::kVal)->get(i), b = back->get(i);
    EXPECT_TRUE(torch::equal(a.image, b.image)) << i;
    EXPECT_TRUE(torch::equal(a.label, b.label)) << i;
  }
  // An existing, non-empty folder is refused and left alone; no temporary folder stays behind.
  EXPECT_NE(error_of([&] { cwd::data::export_folder({{"val", scenes(Split::kVal)}}, out); })
                .find("already exists; choose a new --out"),
            std::string::npos);
  int entries = 0;
  for (const auto& e : fs::directory_iterator(fs::path(dir.str()))) entries += e.path().filename() == "scenes" ? 0 : 1;
  EXPECT_EQ(entries, 0);
}

}  // namespace

// ---- a build without OpenCV -------------------------------------------------------------------

TEST(NoOpenCv, ImageFilesStopWithOneLineNamingTheFix) {
  if (cwd::data::detail::have_opencv()) GTEST_SKIP() << "this build has OpenCV";
  TempDir dir("noopencv");
  fs::create_directories(dir / "images/train");
  fs::create_directories(dir / "labels/train");
  std::ofstream(dir / "images/train/a.png") << "not read";
  std::ofstream(dir / "labels/train/a.png") << "not read";
  DataConfig folder;
  folder.name = "folder";
  folder.root = dir.str();
  folder.num_classes = 3;
  const std::string fix = "this build of cwd-bench has no OpenCV to read or write image files";
  const std::string message = error_of([&] { cwd::data::make_dataset(folder, Split::kTrain); });
  EXPECT_EQ(message.rfind("dataset 'folder': " + fix, 0), 0u) << message;
  EXPECT_NE(message.find("install libopencv-dev"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos);
  EXPECT_EQ(error_of([&] { cwd::data::write_preview(*scenes(Split::kVal), 4, dir / "p.png"); })
                .rfind("data preview: " + fix, 0),
            0u);
  EXPECT_EQ(error_of([&] { cwd::data::export_folder({{"val", scenes(Split::kVal)}}, dir / "out"); })
                .rfind("data export: " + fix, 0),
            0u);
  EXPECT_FALSE(fs::exists(dir / "p.png"));
  EXPECT_FALSE(fs::exists(dir / "out"));
}
