using System.Collections.Concurrent;
using Hbone.Identity;
using Hbone.Istio.Ca;

namespace Hbone.Istio.Tests.Ca;

/// <summary>An in-process issuer for manager tests: signs with a development CA, can be held, failed, and counts calls in flight.</summary>
internal sealed class ScriptedIssuer(DevelopmentCertificateAuthority ca, TimeSpan? lifetime = null) : ICertificateIssuer
{
    private int _calls;
    private int _inFlight;
    private int _maxInFlight;

    public DevelopmentCertificateAuthority Ca { get; set; } = ca;

    /// <summary>When it returns an exception for an identity, the call throws it.</summary>
    public Func<SpiffeId, Exception?>? Fail { get; set; }

    /// <summary>Each call waits for the task returned for its identity.</summary>
    public Func<SpiffeId, Task>? Gate { get; set; }

    public int Calls => Volatile.Read(ref _calls);

    public int InFlight => Volatile.Read(ref _inFlight);

    public int MaxInFlight => Volatile.Read(ref _maxInFlight);

    public ConcurrentQueue<SpiffeId> Requested { get; } = new();

    public async Task<IssuedCertificate> IssueAsync(SpiffeId identity, CancellationToken cancellationToken)
    {
        Requested.Enqueue(identity);
        Interlocked.Increment(ref _calls);
        int inFlight = Interlocked.Increment(ref _inFlight);
        for (int max = MaxInFlight; inFlight > max && Interlocked.CompareExchange(ref _maxInFlight, inFlight, max) != max; max = MaxInFlight)
        {
        }

        try
        {
            if (Gate?.Invoke(identity) is { } gate)
            {
                await gate.WaitAsync(cancellationToken);
            }

            await Task.Yield();
            if (Fail?.Invoke(identity) is { } error)
            {
                throw error;
            }

            DevelopmentCertificateAuthority signer = Ca;
            return new IssuedCertificate(signer.Issue(identity, lifetime), signer.TrustBundle);
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }
}
