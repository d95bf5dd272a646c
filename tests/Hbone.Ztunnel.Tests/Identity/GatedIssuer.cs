using System.Collections.Concurrent;
using Hbone.Identity;
using Hbone.Istio.Ca;

namespace Hbone.Ztunnel.Tests.Identity;

/// <summary>
/// istiod's CA stood in for by a development CA: every identity asked for is recorded, and its certificate is signed only
/// once the test releases that identity, so a test sees the time between a CSR and its answer.
/// </summary>
internal sealed class GatedIssuer : ICertificateIssuer, IDisposable
{
    private readonly DevelopmentCertificateAuthority _ca = new("cluster.local");
    private readonly ConcurrentDictionary<SpiffeId, TaskCompletionSource> _gates = new();
    private readonly ConcurrentQueue<SpiffeId> _requested = new();

    /// <summary>Every identity a certificate was asked for, in order.</summary>
    public IReadOnlyList<SpiffeId> Requested => [.. _requested];

    /// <summary>Lets the pending and future requests for <paramref name="id"/> be signed.</summary>
    public void Release(SpiffeId id) => Gate(id).TrySetResult();

    public async Task<IssuedCertificate> IssueAsync(SpiffeId identity, CancellationToken cancellationToken)
    {
        _requested.Enqueue(identity);
        await Gate(identity).Task.WaitAsync(cancellationToken);
        return new IssuedCertificate(_ca.Issue(identity), _ca.TrustBundle);
    }

    public void Dispose() => _ca.Dispose();

    private TaskCompletionSource Gate(SpiffeId id) => _gates.GetOrAdd(id, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
}
