# office_embed_files(TARGET name SYMBOL fn BASE dir PREFIX /url FILES f1 f2 ...)
# Makes a static library whose function `const office::net::EmbeddedFileTable& fn()`
# lists the files as {url path, bytes, content type, ETag}. The bytes go in with
# the assembler's .incbin, so embedding megabytes costs no compile time.
function(office_embed_files)
  cmake_parse_arguments(E "" "TARGET;BASE;PREFIX;SYMBOL" "FILES" ${ARGN})
  find_package(Python3 REQUIRED COMPONENTS Interpreter)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${E_TARGET}_embedded.cpp)
  add_custom_command(
    OUTPUT ${out}
    COMMAND Python3::Interpreter ${PROJECT_SOURCE_DIR}/cmake/embed_files.py
            --out ${out} --base ${E_BASE} --prefix ${E_PREFIX} --symbol ${E_SYMBOL} ${E_FILES}
    DEPENDS ${E_FILES} ${PROJECT_SOURCE_DIR}/cmake/embed_files.py
    COMMENT "Embedding ${E_TARGET} assets"
    VERBATIM)
  add_library(${E_TARGET} STATIC ${out})
  target_include_directories(${E_TARGET} PUBLIC ${PROJECT_SOURCE_DIR}/src)
endfunction()

# office_embed_built_dir(TARGET name SYMBOL fn PREFIX /url DIR out_dir STAMP stamp)
# Like office_embed_files, for a directory a build step fills (the web app's
# Vite output): every file under DIR is embedded, whatever its name; STAMP is
# that step's output, so the embedding reruns whenever the step does.
function(office_embed_built_dir)
  cmake_parse_arguments(E "" "TARGET;PREFIX;SYMBOL;DIR;STAMP" "" ${ARGN})
  find_package(Python3 REQUIRED COMPONENTS Interpreter)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${E_TARGET}_embedded.cpp)
  add_custom_command(
    OUTPUT ${out}
    COMMAND Python3::Interpreter ${PROJECT_SOURCE_DIR}/cmake/embed_files.py
            --out ${out} --base ${E_DIR} --prefix ${E_PREFIX} --symbol ${E_SYMBOL} --dir ${E_DIR}
    DEPENDS ${E_STAMP} ${PROJECT_SOURCE_DIR}/cmake/embed_files.py
    COMMENT "Embedding ${E_TARGET} assets"
    VERBATIM)
  add_library(${E_TARGET} STATIC ${out})
  target_include_directories(${E_TARGET} PUBLIC ${PROJECT_SOURCE_DIR}/src)
endfunction()
