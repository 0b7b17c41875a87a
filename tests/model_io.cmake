# safetensors model files: the cmocka suite, and interoperability with an independent Python
# reader and writer (json, struct and numpy only) in both directions.
mc_add_unit_test(test_model_io test_model_io.c)

add_executable(st_write_sample st_write_sample.c)
mc_strict_warnings(st_write_sample)
target_link_libraries(st_write_sample PRIVATE moecore_static)

set(MC_ST_DIR ${CMAKE_CURRENT_BINARY_DIR}/tmp)
add_test(NAME model_io_c_write COMMAND st_write_sample write ${MC_ST_DIR}/model_io_c.safetensors)
add_test(NAME model_io_py_read
         COMMAND ${MC_PYTHON} ${PROJECT_SOURCE_DIR}/tests/read_safetensors.py ${MC_ST_DIR}/model_io_c.safetensors)
add_test(NAME model_io_py_write
         COMMAND ${MC_PYTHON} ${PROJECT_SOURCE_DIR}/tests/read_safetensors.py --write ${MC_ST_DIR}/model_io_py.safetensors)
add_test(NAME model_io_c_read COMMAND st_write_sample check ${MC_ST_DIR}/model_io_py.safetensors)
set_tests_properties(model_io_c_write PROPERTIES LABELS unit FIXTURES_SETUP model_io_c_file)
set_tests_properties(model_io_py_read PROPERTIES LABELS unit FIXTURES_REQUIRED model_io_c_file)
set_tests_properties(model_io_py_write PROPERTIES LABELS unit FIXTURES_SETUP model_io_py_file)
set_tests_properties(model_io_c_read PROPERTIES LABELS unit FIXTURES_REQUIRED model_io_py_file)
