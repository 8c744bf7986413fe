{# Brian2's push_spikes for neurocbram's pathways (neurocbram.pathways): the
   queue is prepared once per run and advanced every step; the step's events are
   pushed into it unless the pathway visits its synapses directly in this run. #}
{# USES_VARIABLES { _n_sources, _n_targets, delay, _source_dt} #}
{% extends 'common_group.cpp' %}

{% set _direct = (owner.template_kwds or {}).get('direct') %}

{% block before_code %}
    {% set _scalar = c_data_type(variables['delay'].dtype) %}
    std::vector<{{_scalar}}> &_delays = {{get_array_name(variables['delay'], access_data=False)}};
    int32_t *_sources = {{owner.name}}.sources.empty() ? 0 : &({{owner.name}}.sources[0]);
    {{owner.name}}.prepare({{constant_or_scalar('_n_sources', variables['_n_sources'])}},
                           {{constant_or_scalar('_n_targets', variables['_n_targets'])}},
                           _delays.empty() ? 0 : &_delays[0], _delays.size(), _sources,
                           {{owner.name}}.sources.size(), {{_source_dt}});
{% endblock %}

{% block maincode %}
    {% set _eventspace = get_array_name(eventspace_variable) %}
    {% if _direct %}
    extern bool {{_direct.flag}};
    {% endif %}
    {{openmp_pragma('parallel')}}
    {
        {{owner.name}}.advance();
        {% if _direct %}
        if (!{{_direct.flag}})
        {% endif %}
        {{owner.name}}.push({{_eventspace}}, {{_eventspace}}[_num{{eventspace_variable.name}}-1]);
    }
{% endblock %}
