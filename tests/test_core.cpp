#include "src/core/threads.h"
#include "src/core/error.h"
#include <gtest/gtest.h>
TEST(Device, UnknownNameListsValid) {
  try { cwd::resolve_device("tpu"); FAIL(); } catch (const cwd::Error& e) {
    EXPECT_STREQ(e.what(), "unknown device 'tpu' (valid: auto, cpu, cuda, cuda:N)"); }
}
