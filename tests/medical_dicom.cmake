# moe-medical's DICOM reading, series building, NIfTI output and phantom: unit tests on the code
# (linked with the GDCM shim library), parity with pydicom over Debian's pydicom test images, and
# the commands end to end with bad inputs.

# Files that make GDCM abort leave its allocations behind; dicom_gdcm.cpp tells LeakSanitizer so, by
# the function they were made under, which it finds only with its slow unwinder (GDCM has no frame
# pointers).
set(MED_LSAN "ASAN_OPTIONS=fast_unwind_on_malloc=0")

mc_add_unit_test(test_dicom_series test_dicom_series.c)
target_link_libraries(test_dicom_series PRIVATE moe_medical)
set_tests_properties(test_dicom_series PROPERTIES ENVIRONMENT "MC_TEST_TMP=${CMAKE_CURRENT_BINARY_DIR}/tmp;${MED_LSAN}")

# pydicom writes the reference (pixel values after rescale, and geometry) for every image file of
# its test data; the C reader must agree.
set(MED_PYDICOM_REF ${CMAKE_CURRENT_BINARY_DIR}/tmp/pydicom_ref)
add_test(NAME medical_pydicom_reference
         COMMAND ${MC_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/medical/pydicom_corpus.py ${MED_PYDICOM_REF})
set_tests_properties(medical_pydicom_reference PROPERTIES LABELS parity FIXTURES_SETUP med_pydicom_ref)
mc_add_unit_test(test_dicom_corpus test_dicom_corpus.c)
target_link_libraries(test_dicom_corpus PRIVATE moe_medical)
set_tests_properties(test_dicom_corpus PROPERTIES LABELS "unit;parity" FIXTURES_REQUIRED med_pydicom_ref
                     ENVIRONMENT "MC_TEST_TMP=${CMAKE_CURRENT_BINARY_DIR}/tmp;MED_PYDICOM_REF=${MED_PYDICOM_REF};${MED_LSAN}")

# scan, convert and phantom through the real program.
add_test(NAME medical_dicom_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/medical_dicom_test.sh
         ${PROJECT_SOURCE_DIR} $<TARGET_FILE:moe-medical> ${CMAKE_CURRENT_BINARY_DIR}/tmp/medical_dicom ${MC_PYTHON})
set_tests_properties(medical_dicom_cli PROPERTIES LABELS cli ENVIRONMENT "${MED_LSAN}")
