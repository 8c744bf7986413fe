{# A synaptic pathway that skips the synapses whose gate variable is zero.

   Used by neurocbram.gated_pathway for pathways whose statements change nothing
   where the gate is zero (e.g. STDP depression, -eta * trace_post, for neurons
   without a trace): skipping those synapses saves reading and writing back
   every variable of the statements. Runs serially, like Brian2's own template
   for statements that read non-synaptic variables. #}
{% extends 'common_synapses.cpp' %}

{% block maincode %}
    {% set _gate = variables[gate_variable] %}
    {% set _gate_index = variables[variable_indices[gate_variable]] %}
    const size_t _vectorisation_idx = -1;
    {{scalar_code|autoindent}}

    const std::vector<int> &_queued = *{{pathway.name}}.peek();
    const int _n_queued = _queued.size();
    for (int _k = 0; _k < _n_queued; _k++)
    {
        const size_t _idx = _queued[_k];
        // gate: {{gate_variable}} == 0 means the statements below would change nothing
        if ({{get_array_name(_gate)}}[{{get_array_name(_gate_index)}}[_idx]] == 0)
            continue;
        const size_t _vectorisation_idx = _idx;
        {{vector_code|autoindent}}
    }
{% endblock %}
