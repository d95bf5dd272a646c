namespace Hbone.Kestrel.Http2;

/// <summary>
/// Counts abusive events of one kind on one connection: after <c>freeAllowance</c> events in total, more than
/// <c>limit</c> within one <c>window</c> exhaust the budget. Fixed windows keep it to two fields and no allocation.
/// </summary>
internal struct AbuseBudget
{
    private readonly int _limit;
    private readonly int _freeAllowance;
    private readonly long _windowTicks;
    private long _total;
    private long _windowStart;
    private int _inWindow;

    public AbuseBudget(int limit, TimeSpan window, int freeAllowance = 0)
    {
        _limit = limit;
        _freeAllowance = freeAllowance;
        _windowTicks = (long)(window.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
        _total = 0;
        _windowStart = long.MinValue;
        _inWindow = 0;
    }

    /// <summary>Events charged so far.</summary>
    public readonly long Total => _total;

    /// <summary>Charges one event at <paramref name="timestamp"/> (Stopwatch ticks); false when the budget is exhausted.</summary>
    public bool TryCharge(long timestamp)
    {
        _total++;
        if (_windowStart == long.MinValue || timestamp - _windowStart >= _windowTicks)
        {
            _windowStart = timestamp;
            _inWindow = 0;
        }

        _inWindow++;
        return _total <= _freeAllowance || _inWindow <= _limit;
    }
}
