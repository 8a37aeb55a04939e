# Run the size-class generator and compare its output with the checked-in alloc/sizeclasses.h.
execute_process(COMMAND ${GEN} OUTPUT_FILE ${OUT} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "mksizeclasses failed (${rc})")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${OUT} ${CHECKED_IN} RESULT_VARIABLE diff)
if(NOT diff EQUAL 0)
  message(FATAL_ERROR "alloc/sizeclasses.h differs from the generator's output (${OUT}); "
                      "regenerate it: mksizeclasses > alloc/sizeclasses.h")
endif()
