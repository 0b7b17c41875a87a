# moe-medical detection: the detector's pieces on hand-worked cases, and `train`/`detect` end to end on
# generated studies (held-out seeds), scored by `moe-medical eval`.

mc_add_unit_test(test_detector test_detector.c)
target_link_libraries(test_detector PRIVATE moe_medical)

foreach(_mode train detect bad)
  add_test(NAME medical_detect_${_mode} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/medical_detect_test.sh ${_mode}
           ${PROJECT_SOURCE_DIR} $<TARGET_FILE:moe-medical> ${CMAKE_CURRENT_BINARY_DIR}/tmp/medical_detect_${_mode} ${MC_PYTHON})
  set_tests_properties(medical_detect_${_mode} PROPERTIES LABELS cli ENVIRONMENT "${MED_LSAN}")
endforeach()
