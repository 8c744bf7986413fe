{# A synaptic pathway, gated and/or direct (neurocbram.pathways).

   gate_variable (optional): synapses whose gate (a pre- or postsynaptic
   variable) is zero are skipped; the statements must change nothing there.
   direct (optional): when the program finds, at the start of a run, that the
   synapses are the full N_pre x N_post matrix in connect() order with zero
   delays, the step's events are read from the eventspace and their synapses
   visited directly (synapse _s * event_stride + _t * other_stride for event
   neuron _s and other neuron _t), in the order the spike queue would give;
   the push_spikes template then leaves the queue empty. Otherwise the
   pathway reads Brian2's queue. Runs serially, like Brian2's own template for
   statements that read non-synaptic variables. #}
{# USES_VARIABLES { _synaptic_pre, _synaptic_post } #}
{% extends 'common_synapses.cpp' %}

{% set _direct = direct if direct is defined else None %}
{% set _gate = variables[gate_variable] if gate_variable is defined else None %}
{% set _gate_index = variable_indices[gate_variable] if gate_variable is defined else None %}

{% block extra_headers %}
{{ super() }}
{% if _direct %}
// set at the start of each run: the synapses are the full matrix, with zero delays
bool {{_direct.flag}} = false;
{% endif %}
{% endblock %}

{% block before_code %}
    {% if _direct %}
    extern bool {{_direct.flag}};
    {
        const auto &_pre = {{_direct.synaptic_pre}};
        const auto &_post = {{_direct.synaptic_post}};
        const auto &_delays = {{_direct.delay}};
        const size_t _n_pre = {{_direct.n_pre}}, _n_post = {{_direct.n_post}};
        bool _full = _pre.size() == _n_pre * _n_post && _post.size() == _pre.size();
        for (size_t _k = 0; _full && _k < _pre.size(); _k++)
            _full = (size_t)_pre[_k] == _k / _n_post && (size_t)_post[_k] == _k % _n_post;
        for (size_t _k = 0; _full && _k < _delays.size(); _k++)
            _full = _delays[_k] == 0;
        {{_direct.flag}} = _full;
        if (!_full)
            std::cout << "neurocbram: pathway {{pathway.name}} uses the spike queue in this run "
                         "(its synapses are not the full matrix in connect() order with zero "
                         "delays)" << std::endl;
    }
    {% else %}
    // EMPTY_CODE_BLOCK  -- no per-run preparation
    {% endif %}
{% endblock %}

{% block maincode %}
    const size_t _vectorisation_idx = -1;
    {{scalar_code|autoindent}}

    {% if _direct %}
    if ({{_direct.flag}})
    {
        {# the statements' index loads become the loop counters #}
        {% set _load = 'const int32_t {} = {}[_idx];' %}
        {% set _event_array = '_synaptic_pre' if _direct.event_index == '_presynaptic_idx' else '_synaptic_post' %}
        {% set _other_array = '_synaptic_post' if _direct.event_index == '_presynaptic_idx' else '_synaptic_pre' %}
        {% set _direct_code = vector_code
            | map('replace', _load.format(_direct.event_index, get_array_name(variables[_event_array])),
                      'const int32_t ' ~ _direct.event_index ~ ' = _s;')
            | map('replace', _load.format(_direct.other_index, get_array_name(variables[_other_array])),
                      'const int32_t ' ~ _direct.other_index ~ ' = _t;') | list %}
        const int32_t * const _events = {{_direct.events}};
        const int32_t _n_events = _events[{{_direct.n_events_slot}}];
        {% if _gate_index == _direct.other_index %}
        // the other neurons whose gate is open, once per step with events
        static std::vector<int32_t> _open;
        _open.clear();
        if (_n_events > 0)
            for (int32_t _t = 0; _t < {{_direct.n_other}}; _t++)
                if ({{get_array_name(_gate)}}[_t] != 0)
                    _open.push_back(_t);
        const int32_t _n_open = _open.size();
        {% endif %}
        for (int32_t _e = 0; _e < _n_events; _e++)
        {
            const int32_t _s = _events[_e];
            {% if _gate_index == _direct.event_index %}
            if ({{get_array_name(_gate)}}[_s] == 0)
                continue;
            {% endif %}
            {% if _gate_index == _direct.other_index %}
            for (int32_t _o = 0; _o < _n_open; _o++)
            {
                const int32_t _t = _open[_o];
            {% else %}
            for (int32_t _t = 0; _t < {{_direct.n_other}}; _t++)
            {
            {% endif %}
                const size_t _idx = (size_t)_s * {{_direct.event_stride}} + (size_t)_t * {{_direct.other_stride}};
                const size_t _vectorisation_idx = _idx;
                {{_direct_code|autoindent}}
            }
        }
    }
    else
    {% endif %}
    {
    const std::vector<int> &_queued = *{{pathway.name}}.peek();
    const int _n_queued = _queued.size();
    for (int _k = 0; _k < _n_queued; _k++)
    {
        const size_t _idx = _queued[_k];
        {% if _gate %}
        // gate: {{gate_variable}} == 0 means the statements below would change nothing
        if ({{get_array_name(_gate)}}[{{get_array_name(variables[_gate_index])}}[_idx]] == 0)
            continue;
        {% endif %}
        const size_t _vectorisation_idx = _idx;
        {{vector_code|autoindent}}
    }
    }
{% endblock %}
