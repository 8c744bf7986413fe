{# The Network class of neurocbram's standalone device (neurocbram.standalone_device).

   Same interface and the same schedule as Brian2's own network template: at
   each step the clocks whose time is the earliest (within 1e-14) are due, the
   objects on a due clock run in the order they were added, and the due clocks
   tick. What differs is the cost per step, which matters when a step itself
   costs a few microseconds: each object's clock is looked up once per run (an
   index into a small array of clocks instead of a std::set search per object
   and step, and no set rebuilt per step), and the process CPU clock, a system
   call, is read per step only when a report function or a maximum run time
   needs it, otherwise at the start and end of the run. #}
{% macro cpp_file() %}

#include "network.h"
#include <cmath>
#include <ctime>
#include <utility>
#include <vector>

{{ openmp_pragma('include') }}

namespace {
    const double clocks_coincide = 1e-14;

    // seconds of processor time (wall time with OpenMP)
    double now()
    {
        {% if openmp_pragma('with_openmp') %}
        return omp_get_wtime();
        {% else %}
        return ((double) std::clock()) / CLOCKS_PER_SEC;
        {% endif %}
    }
}

double Network::_last_run_time = 0.0;
double Network::_last_run_completed_fraction = 0.0;
bool Network::_globally_stopped = false;
bool Network::_globally_running = false;

Network::Network()
{
    t = 0.0;
}

void Network::clear()
{
    objects.clear();
}

void Network::add(Clock* clock, codeobj_func func)
{
    objects.push_back(std::make_pair(clock, func));
}

void Network::run(const double duration, void (*report_func)(const double, const double, const double, const double), const double report_period)
{
    const double t_start = t;
    const double t_end = t + duration;
    double next_report_time = report_period;

    // the distinct clocks, and for every object the position of its clock among them
    std::vector<Clock*> clocks;
    std::vector<size_t> clock_of(objects.size());
    for (size_t i = 0; i < objects.size(); i++)
    {
        size_t c = 0;
        while (c < clocks.size() && clocks[c] != objects[i].first)
            c++;
        if (c == clocks.size())
            clocks.push_back(objects[i].first);
        clock_of[i] = c;
    }
    for (size_t c = 0; c < clocks.size(); c++)
        clocks[c]->set_interval(t, t_end);
    std::vector<char> due(clocks.size(), 0);

    const double start = now();
    double elapsed = 0.0;
    if (report_func)
        report_func(0.0, 0.0, t_start, duration);

    bool broke_off = false;
    long steps = 0;
    Clock* earliest = NULL;
    Network::_globally_running = true;
    Network::_globally_stopped = false;
    while (!clocks.empty())
    {
        // the earliest clock, and every clock at (almost) the same time
        earliest = clocks[0];
        for (size_t c = 1; c < clocks.size(); c++)
            if (clocks[c]->t[0] < earliest->t[0])
                earliest = clocks[c];
        if (!earliest->running() || Network::_globally_stopped)
            break;
        {% if maximum_run_time is not none %}
        // (checked after every step, as in Brian2: at least one step runs)
        if (steps > 0 && now() - start > {{ maximum_run_time }})
        {
            broke_off = true;
            break;
        }
        {% endif %}
        t = earliest->t[0];
        for (size_t c = 0; c < clocks.size(); c++)
        {
            const double s = clocks[c]->t[0];
            due[c] = (s == t || std::fabs(s - t) <= clocks_coincide);
        }

        for (size_t i = 0; i < objects.size(); i++)
        {
            if (report_func)
            {
                elapsed = now() - start;
                if (elapsed > next_report_time)
                {
                    report_func(elapsed, (t - t_start) / duration, t_start, duration);
                    next_report_time += report_period;
                }
            }
            if (due[clock_of[i]] && objects[i].second)
                objects[i].second();
        }
        for (size_t c = 0; c < clocks.size(); c++)
            if (due[c])
                clocks[c]->tick();
        steps++;
    }
    Network::_globally_running = false;
    elapsed = now() - start;

    if (!broke_off && !Network::_globally_stopped)
        t = t_end;
    else if (earliest)
        t = earliest->t[0];

    _last_run_time = elapsed;
    _last_run_completed_fraction = duration > 0 ? (t - t_start) / duration : 1.0;
    if (report_func)
        report_func(elapsed, _last_run_completed_fraction, t_start, duration);
}

{% endmacro %}

{% macro h_file() %}

#ifndef _BRIAN_NETWORK_H
#define _BRIAN_NETWORK_H

#include <utility>
#include <vector>
#include "brianlib/clocks.h"

typedef void (*codeobj_func)();

class Network
{
public:
    std::vector< std::pair< Clock*, codeobj_func > > objects;
    double t;
    static double _last_run_time;
    static double _last_run_completed_fraction;
    static bool _globally_stopped;
    static bool _globally_running;

    Network();
    void clear();
    void add(Clock* clock, codeobj_func func);
    void run(const double duration, void (*report_func)(const double, const double, const double, const double), const double report_period);
};

#endif

{% endmacro %}
