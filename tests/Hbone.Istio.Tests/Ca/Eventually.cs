namespace Hbone.Istio.Tests.Ca;

/// <summary>Waits for a condition with a deadline, for state changed by background loops.</summary>
internal static class Eventually
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    public static async Task TrueAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        DateTime deadline = DateTime.UtcNow + (timeout ?? DefaultTimeout);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"timed out waiting for {what}");
            }

            await Task.Delay(10);
        }
    }

    /// <summary>Completes on the next <paramref name="subscribe"/>d event, or throws after the deadline.</summary>
    public static async Task EventAsync(Action<EventHandler> subscribe, Action<EventHandler> unsubscribe, Action trigger, string what, TimeSpan? timeout = null)
    {
        TaskCompletionSource raised = new(TaskCreationOptions.RunContinuationsAsynchronously);
        EventHandler handler = (_, _) => raised.TrySetResult();
        subscribe(handler);
        try
        {
            trigger();
            await raised.Task.WaitAsync(timeout ?? DefaultTimeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"timed out waiting for {what}");
        }
        finally
        {
            unsubscribe(handler);
        }
    }
}
