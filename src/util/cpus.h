/* util/cpus.h: how many CPUs this process may run on.
 *
 * "One per core" defaults (search workers, engine threads, HTTP threads)
 * must count the CPUs the process is allowed, not the machine's: under
 * taskset, a cgroup cpuset or a container's CPU list, a thread per online
 * CPU would time-share the allowed ones and make every search slower. */
#ifndef MCTX_UTIL_CPUS_H
#define MCTX_UTIL_CPUS_H

/* The CPUs in this thread's affinity mask (>= 1); the online CPUs where
 * the mask cannot be read. */
int mctx_cpu_count(void);

#endif
