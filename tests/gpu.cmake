# The CUDA API without a device, in every build (skipped where a device is present).
mc_add_unit_test(test_cuda_absent gpu/test_cuda_absent.c)
set_tests_properties(test_cuda_absent PROPERTIES SKIP_RETURN_CODE 77)

# The CUDA backend against the CPU kernels (tests/gpu/): built only with the backend; each test
# exits 77 (skipped) on a machine without a CUDA device. Label "gpu".
if(MC_HAVE_CUDA)
  add_library(mc_gpu_check STATIC gpu/gpu_check.c)
  mc_strict_warnings(mc_gpu_check)
  target_link_libraries(mc_gpu_check PUBLIC moecore_static)
  foreach(t test_gpu_ops test_gpu_moe test_gpu_train test_gpu_oom test_gpu_attention)
    add_executable(${t} gpu/${t}.c)
    mc_strict_warnings(${t})
    target_link_libraries(${t} PRIVATE mc_gpu_check)
    add_test(NAME ${t} COMMAND ${t})
    set_tests_properties(${t} PROPERTIES LABELS gpu SKIP_RETURN_CODE 77 TIMEOUT 300)
  endforeach()
endif()
