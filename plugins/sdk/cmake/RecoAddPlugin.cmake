# reco_add_plugin(<target> <source>...)
#
# Builds a reco embedding plugin: a MODULE library named <target>.so (no "lib" prefix) that
# links reco::plugin_sdk, compiles with hidden visibility, exports only reco_plugin_entry
# (linker version script) and is refused at link time if a symbol is left undefined
# (-Wl,--no-undefined), instead of failing later when recod loads it.
# Output goes where CMake puts MODULE libraries (set LIBRARY_OUTPUT_DIRECTORY to change it);
# anything else (include directories, more libraries) is added to <target> as usual.
include_guard(GLOBAL)

if(CMAKE_VERSION VERSION_LESS 3.17)
  message(FATAL_ERROR "reco_add_plugin needs CMake 3.17 or later (this is ${CMAKE_VERSION})")
endif()

function(reco_add_plugin target)
  if(NOT ARGN)
    message(FATAL_ERROR "reco_add_plugin(${target}): no source files given")
  endif()
  if(APPLE OR WIN32)
    message(FATAL_ERROR "reco_add_plugin(${target}): reco loads ELF shared objects (*.so); "
                        "${CMAKE_SYSTEM_NAME} is not supported")
  endif()
  if(NOT TARGET reco::plugin_sdk)
    message(FATAL_ERROR "reco_add_plugin(${target}): target reco::plugin_sdk is missing; "
                        "call find_package(reco REQUIRED) first")
  endif()
  set(version_script "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/reco_plugin.map")

  add_library(${target} MODULE ${ARGN})
  target_link_libraries(${target} PRIVATE reco::plugin_sdk)
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    SUFFIX ".so"
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  # The C++ wrapper (reco/plugin.hpp) needs C++14; a plugin written in C needs no C++ at all.
  get_property(languages GLOBAL PROPERTY ENABLED_LANGUAGES)
  if(CXX IN_LIST languages)
    target_compile_features(${target} PRIVATE cxx_std_14)
  endif()
  target_link_options(${target} PRIVATE "LINKER:--version-script=${version_script}"
                                        "LINKER:--no-undefined")
  set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS "${version_script}")
endfunction()
