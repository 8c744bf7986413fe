{# Brian2's cpp_standalone state updater, written so that GCC can vectorise its loop.

   Used by neurocbram.standalone_device.vectorise_state_updater. The loop runs
   the same statements as in Brian2's template, with two changes (the vector exp
   rounds within 4 ulp of the scalar one):
   * exp is declared with glibc's SIMD variants (libmvec, "_ZGVdN4v_exp" on
     AVX2); glibc's math.h declares them only under -ffinite-math-only, which
     Brian2's flags switch off;
   * without OpenMP, "#pragma GCC ivdep" states that iterations do not depend on
     each other, as Brian2's numpy target (whole-array statements) already
     assumes of state-update code; otherwise GCC needs more run-time alias checks
     (one per pair of the group's arrays) than it allows itself. #}
{# USES_VARIABLES { N } #}
{# ALLOWS_SCALAR_WRITE #}
{% extends 'common_group.cpp' %}

{% block extra_headers %}
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__)
extern "C" { __attribute__((simd("notinbranch"))) double exp(double) noexcept; }
#endif
{% endblock %}

{% block maincode %}
    //// MAIN CODE ////////////
    // scalar code
    const size_t _vectorisation_idx = -1;
    {{scalar_code|autoindent}}

    const int _N = {{constant_or_scalar('N', variables['N'])}};
    {% set _omp = openmp_pragma('parallel-static') %}
    {% if _omp %}
    {{_omp}}
    {% else %}
    #pragma GCC ivdep
    {% endif %}
    for(int _idx=0; _idx<_N; _idx++)
    {
        // vector code
        const size_t _vectorisation_idx = _idx;
        {{vector_code|autoindent}}
    }
{% endblock %}
