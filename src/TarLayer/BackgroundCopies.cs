using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;

namespace Csshim.TarLayer;

/// <summary>
/// The end of a file's restore or snapshot (its data, for a restore its metadata) run on a worker thread, so that one
/// file is finished on the second core while the walk goes on with the next entries: both are bound by kernel work
/// (page allocation and copying on one side, inode creation, stat and metadata on the other). At most `depth` jobs
/// wait, each holding its files open (and a restore's small-file data), so fds and memory stay bounded. When the
/// queue is full a job runs on the calling thread if `inlineWhenFull` (a restore: its files are all different, so
/// both cores copy), else the caller waits (a snapshot: every copy writes the one archive file, whose inode lock two
/// writers would only fight over). A failed background job's exception (naming its entry) is rethrown by the next
/// Submit or by Drain, an inline job's at once; jobs after a failure are only released. The worker starts with the
/// first job.
/// </summary>
internal sealed class BackgroundCopies(int depth, bool inlineWhenFull) : IDisposable
{
    /// <summary>A copy to make, and what to release (close its fds) whether it ran or not.</summary>
    public readonly record struct Job(Action<FileRangeCopier> Run, Action Release);

    readonly BlockingCollection<Job> _jobs = new(depth);
    readonly FileRangeCopier _inline = new();
    readonly object _lock = new();
    Thread? _worker;
    int _pending;
    ExceptionDispatchInfo? _failure;
    volatile bool _abandoned;

    /// <summary>A job submitted now would be queued, not run inline (a restore copies small data out only then).</summary>
    public bool HasRoom => Volatile.Read(ref _pending) <= depth;

    public void Submit(Job job)
    {
        ThrowIfFailed();
        bool busy;
        lock (_lock)
        {
            busy = inlineWhenFull && _pending > depth;
            if (!busy) _pending++;
        }
        if (busy)
        {
            try { job.Run(_inline); }
            finally { job.Release(); }
            return;
        }
        if (_worker == null)
        {
            _worker = new Thread(Work) { IsBackground = true, Name = "csshim copy" };
            _worker.Start();
        }
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
        _inline.Dispose();
    }
}
