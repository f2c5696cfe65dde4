/* tests/dist/test-dist.c: the distributed search (src/dist) on CPU devices.
 *
 * Alone, the process is a mesh of three CPU devices (local transport); ctest
 * also runs it under `mpirun -np 2..4` (tests/CMakeLists.txt), where every
 * process brings MCTX_TEST_CPU_DEVICES CPU devices and results travel over
 * MPI. Every distributed result is checked against the CPU engine alone
 * (partition_batch: bit for bit) or against the reference merge written in
 * dist-suite.h (partition_search). */
#include "mctx/engine.h"

#define SUITE_KIND MCTX_DIST_DEVICE_CPU
#include "dist-suite.h"

static mctx_engine *suite_ref_engine(void) {
  static mctx_engine *e;
  if (!e) e = mctx_engine_cpu_new(1, NULL);
  return e;
}

/* The mesh of this run is what the test was started as. */
TEST(mesh_is_what_was_launched) {
  NEED_MESH();
  const char *np = getenv("OMPI_COMM_WORLD_SIZE");
  int ranks = mctx_dist_mesh_num_ranks(mesh());
  int expect = np && mctx_dist_have_mpi() ? atoi(np) : 1;
  ASSERT_EQ(ranks, expect);
  ASSERT_EQ(mctx_dist_mesh_uses_mpi(mesh()), expect > 1 || (np && mctx_dist_have_mpi()));
  ASSERT(mctx_dist_mesh_rank(mesh()) < ranks);
}
