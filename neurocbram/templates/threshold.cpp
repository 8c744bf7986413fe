{# Brian2's cpp_standalone thresholder for events that most steps do not have.

   Used by neurocbram.standalone_device.vectorise_thresholder. The condition is
   evaluated once per neuron, as in Brian2's template, but in a loop without
   branches that GCC vectorises, into a byte per neuron; a second vector loop
   tells whether any neuron has the event, and only then is the event list
   built (with lastspike / not_refractory for spikes) from those bytes. #}
{# USES_VARIABLES { N } #}
{% extends 'common_group.cpp' %}
{% block maincode %}
    //// MAIN CODE ////////////
    // scalar code
    const int _vectorisation_idx = -1;
    {{scalar_code|autoindent}}

    {% set _eventspace = get_array_name(eventspace_variable) %}

    static std::vector<char> _conditions;
    _conditions.resize(N);
    char * const __restrict _has_event = &_conditions[0];
    for(size_t _idx=0; _idx<N; _idx++)
    {
        const size_t _vectorisation_idx = _idx;
        {{vector_code|autoindent}}
        _has_event[_idx] = _cond;
    }
    char _any = 0;
    for(size_t _idx=0; _idx<N; _idx++)
        _any |= _has_event[_idx];
    long _count = 0;
    if (_any)
    {
        for(size_t _idx=0; _idx<N; _idx++)
        {
            if(_has_event[_idx]) {
                {{_eventspace}}[_count++] = _idx;
                {% if _uses_refractory %}
                {{not_refractory}}[_idx] = false;
                {{lastspike}}[_idx] = {{t}};
                {% endif %}
            }
        }
    }
    {{_eventspace}}[N] = _count;
{% endblock %}

{% block after_code %}
{% set _eventspace = get_array_name(eventspace_variable) %}
{{_eventspace}}[N] = 0;  // the eventspace has N + 1 entries, the last one the count
{% endblock %}
