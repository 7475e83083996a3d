// Which BLAS libtorch calls (src/core/blas.h), and the record header's "blas" block.

#include "src/core/blas.h"
#include "src/core/json_io.h"
#include "src/train/record.h"
#include "tests/test_helpers.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <string>

namespace {

std::string committed_record() {
  return std::string(CWD_SOURCE_DIR) + "/results/quick/cwd-logit-s0.json";
}

}  // namespace

TEST(Blas, KindFromPath) {
  using cwd::blas_kind_from_path;
  // Debian's alternatives for libblas.so.3, each in its own folder.
  EXPECT_EQ(blas_kind_from_path("/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3"), "openblas");
  EXPECT_EQ(blas_kind_from_path("/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3"), "openblas");
  EXPECT_EQ(blas_kind_from_path("/usr/lib/x86_64-linux-gnu/blas/libblas.so.3"), "reference");
  EXPECT_EQ(blas_kind_from_path("/usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0"), "reference");
  EXPECT_EQ(blas_kind_from_path("/usr/lib/x86_64-linux-gnu/blis-pthread/libblas.so.3"), "blis");
  EXPECT_EQ(blas_kind_from_path("/usr/lib/x86_64-linux-gnu/atlas/libblas.so.3"), "atlas");
  // Implementations loaded under their own names (pip wheels, Intel's installer).
  EXPECT_EQ(blas_kind_from_path("/opt/intel/oneapi/mkl/lib/libmkl_rt.so.2"), "mkl");
  EXPECT_EQ(blas_kind_from_path("/usr/lib/x86_64-linux-gnu/libmkl_rt.so"), "mkl");
  EXPECT_EQ(blas_kind_from_path("/site-packages/torch/lib/libopenblasp-r0.3.21.so"), "openblas");
  EXPECT_EQ(blas_kind_from_path("/usr/lib/libblis.so.4"), "blis");
  // A generic libblas.so whose folder names nothing: the kind is not guessed.
  EXPECT_EQ(blas_kind_from_path("/usr/lib64/libblas.so.3"), "unknown");
  EXPECT_EQ(blas_kind_from_path("/home/user/lib/libblas.so.3"), "unknown");
}

TEST(Blas, DetectsTheLoadedLibrary) {
  // Make sure libtorch has called BLAS before looking (it is loaded at start-up in any case).
  const auto x = torch::ones({64, 64});
  EXPECT_EQ(torch::mm(x, x)[0][0].item<float>(), 64.f);
  const cwd::BlasInfo& blas = cwd::loaded_blas();
  EXPECT_FALSE(blas.kind.empty());
  EXPECT_EQ(&blas, &cwd::loaded_blas());  // computed once
  if (!blas.path.empty()) {
    EXPECT_TRUE(std::filesystem::exists(blas.path)) << blas.path;
    EXPECT_EQ(blas.kind, cwd::blas_kind_from_path(blas.path));
  } else {
    EXPECT_TRUE(blas.kind == "mkl" || blas.kind == "builtin") << blas.kind;
  }
}

TEST(Blas, RecordHeaderRoundTripsWithAndWithoutTheBlock) {
  // A record written before the block existed reads back without it and writes none.
  auto old = cwd::read_json(committed_record());
  ASSERT_TRUE(old.contains("blas"));  // committed records carry it since the block exists
  old.erase("blas");
  const auto without = cwd::train::run_record_from_json(old, committed_record());
  EXPECT_FALSE(without.header.blas.has_value());
  EXPECT_EQ(nlohmann::json(without), old);

  // A new record carries {kind, path} and reads back the same.
  auto with = without;
  with.header.blas = cwd::BlasInfo{"openblas", "/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3"};
  const nlohmann::json j = with;
  EXPECT_EQ(j["blas"], (nlohmann::json{{"kind", "openblas"},
                                       {"path", "/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3"}}));
  const auto back = cwd::train::run_record_from_json(j, "new.json");
  ASSERT_TRUE(back.header.blas.has_value());
  EXPECT_EQ(back.header.blas->kind, "openblas");
  EXPECT_EQ(back.header.blas->path, with.header.blas->path);
  EXPECT_EQ(nlohmann::json(back), j);

  // RecordHeader::current() records this process's BLAS; a broken block is named.
  EXPECT_EQ(cwd::train::RecordHeader::current().blas->kind, cwd::loaded_blas().kind);
  auto broken = j;
  broken["blas"].erase("kind");
  EXPECT_NE(cwd::testing::error_of([&] { cwd::train::run_record_from_json(broken, "new.json"); })
                .find("key 'blas.kind' is missing"),
            std::string::npos);
}
