using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;

namespace Csshim.TarLayer;

/// <summary>
/// Kernel copies of large files run on one worker thread, so that the data of one file is copied on the second core
/// while the restore or snapshot goes on with the next entries (both are bound by kernel work: page allocation and
/// copying on one side, inode creation and metadata on the other). At most Depth jobs wait, each holding its
/// files open, so fds and memory stay bounded. A failed job's exception (naming its entry) is rethrown by the next
/// Submit or by Drain; jobs after a failure are only released. The worker starts with the first job.
/// </summary>
internal sealed class BackgroundCopies : IDisposable
{
    const int Depth = 4;

    /// <summary>A copy to make, and what to release (close its fds) whether it ran or not.</summary>
    public readonly record struct Job(Action<FileRangeCopier> Run, Action Release);

    readonly BlockingCollection<Job> _jobs = new(Depth);
    readonly object _lock = new();
    Thread? _worker;
    int _pending;
    ExceptionDispatchInfo? _failure;
    volatile bool _abandoned;

    public void Submit(Job job)
    {
        ThrowIfFailed();
        if (_worker == null)
        {
            _worker = new Thread(Work) { IsBackground = true, Name = "csshim copy" };
            _worker.Start();
        }
        lock (_lock) _pending++;
        _jobs.Add(job);
    }

    void Work()
    {
        using var copier = new FileRangeCopier();
        foreach (var job in _jobs.GetConsumingEnumerable())
        {
            try
            {
                if (Volatile.Read(ref _failure) == null && !_abandoned) job.Run(copier);
            }
            catch (Exception ex) { Interlocked.CompareExchange(ref _failure, ExceptionDispatchInfo.Capture(ex), null); }
            finally
            {
                job.Release();
                lock (_lock) { _pending--; Monitor.PulseAll(_lock); }
            }
        }
    }

    /// <summary>Wait until every job submitted so far has finished; throw the first failure.</summary>
    public void Drain()
    {
        lock (_lock) while (_pending > 0) Monitor.Wait(_lock);
        ThrowIfFailed();
    }

    void ThrowIfFailed() => Volatile.Read(ref _failure)?.Throw();

    /// <summary>Jobs not started yet are only released (the restore or snapshot failed); waits for the one running.</summary>
    public void Abandon()
    {
        _abandoned = true;
        lock (_lock) while (_pending > 0) Monitor.Wait(_lock);
    }

    /// <summary>Abandons what is left (after a Drain nothing is) and stops the worker.</summary>
    public void Dispose()
    {
        Abandon();
        _jobs.CompleteAdding();
        _worker?.Join();
        _jobs.Dispose();
    }
}
