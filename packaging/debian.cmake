# Debian packages (scripts/package.sh, docs/install.md): flotilla-agent, and
# flotilla-coordinator with the console `flotilla`. install() rules put the
# programs in /usr/bin, the units in /lib/systemd/system, the conffiles in
# /etc/flotilla and the Debian docs in /usr/share/doc/<package>; CPack's DEB
# generator builds one package per component, its dependencies read from the
# shared libraries the programs link (dpkg-shlibdeps).

# The package version: the project's unless set (scripts/package.sh --version).
set(FLOTILLA_PACKAGE_VERSION "" CACHE STRING "Version of the Debian packages (empty: the project's)")
set(flotilla_pkg_version "${FLOTILLA_PACKAGE_VERSION}")
if(flotilla_pkg_version STREQUAL "")
  set(flotilla_pkg_version "${PROJECT_VERSION}")
endif()

set(flotilla_pkg_dir ${PROJECT_SOURCE_DIR}/packaging)
set(flotilla_pkg_build ${PROJECT_BINARY_DIR}/packaging)

install(TARGETS flotilla-agent RUNTIME DESTINATION bin COMPONENT agent)
install(TARGETS flotilla-coordinator flotilla RUNTIME DESTINATION bin COMPONENT coordinator)

# changelog.Debian.gz: one entry for this version, compressed as lintian wants (gzip -9n).
string(TIMESTAMP flotilla_deb_date "%a, %d %b %Y %H:%M:%S +0000" UTC)
set(FLOTILLA_DEB_VERSION "${flotilla_pkg_version}-1")
set(FLOTILLA_DEB_DATE "${flotilla_deb_date}")
configure_file(${flotilla_pkg_dir}/debian/changelog.in ${flotilla_pkg_build}/changelog.Debian @ONLY)
execute_process(COMMAND gzip -9nf ${flotilla_pkg_build}/changelog.Debian RESULT_VARIABLE flotilla_gzip_rc)
if(NOT flotilla_gzip_rc EQUAL 0)
  message(FATAL_ERROR "gzip ${flotilla_pkg_build}/changelog.Debian failed")
endif()

foreach(component agent coordinator)
  install(FILES ${PROJECT_SOURCE_DIR}/scripts/systemd/flotilla-${component}.service
          DESTINATION /lib/systemd/system COMPONENT ${component})
  install(FILES ${flotilla_pkg_dir}/etc/${component}.env DESTINATION /etc/flotilla COMPONENT ${component})
  install(FILES ${flotilla_pkg_dir}/debian/copyright ${flotilla_pkg_build}/changelog.Debian.gz
                ${PROJECT_SOURCE_DIR}/docs/install.md
          DESTINATION share/doc/flotilla-${component} COMPONENT ${component})
endforeach()

set(CPACK_GENERATOR DEB)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL agent coordinator)
set(CPACK_PACKAGE_NAME flotilla)
set(CPACK_PACKAGE_VERSION "${flotilla_pkg_version}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_CONTACT "Flotilla maintainers <flotilla@example.org>")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(CPACK_DEBIAN_AGENT_PACKAGE_NAME flotilla-agent)
set(CPACK_COMPONENT_AGENT_DESCRIPTION
    "Flotilla agent: applies signed releases on this host\n\
flotilla-agent runs on every host of a Flotilla fleet. It connects to the\n\
coordinator over CURVE-encrypted ZeroMQ, applies signed deployment orders\n\
in waves, checks the health of each release and reverts by itself when\n\
checks fail, even when the coordinator is unreachable.")
set(CPACK_DEBIAN_AGENT_PACKAGE_CONTROL_EXTRA
    ${flotilla_pkg_dir}/debian/agent/postinst ${flotilla_pkg_dir}/debian/agent/prerm
    ${flotilla_pkg_dir}/debian/agent/postrm ${flotilla_pkg_dir}/debian/agent/conffiles)

set(CPACK_DEBIAN_COORDINATOR_PACKAGE_NAME flotilla-coordinator)
# adduser: postinst creates the `flotilla` system user.
set(CPACK_DEBIAN_COORDINATOR_PACKAGE_DEPENDS adduser)
set(CPACK_COMPONENT_COORDINATOR_DESCRIPTION
    "Flotilla coordinator and console: safe rollouts to a fleet\n\
flotilla-coordinator owns the rollouts, the signing keys and the delivery\n\
record of a Flotilla fleet: it pushes signed plans to the agents in waves\n\
and rolls back on failure. The package also holds the console, flotilla,\n\
which starts, watches and steers rollouts by hand or from CI.")
set(CPACK_DEBIAN_COORDINATOR_PACKAGE_CONTROL_EXTRA
    ${flotilla_pkg_dir}/debian/coordinator/postinst ${flotilla_pkg_dir}/debian/coordinator/prerm
    ${flotilla_pkg_dir}/debian/coordinator/postrm ${flotilla_pkg_dir}/debian/coordinator/conffiles)

include(CPack)
