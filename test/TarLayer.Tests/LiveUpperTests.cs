using Csshim.TarLayer.Posix;
using Csshim.TarLayer;
using NUnit.Framework;

namespace Csshim.Tests;

/// <summary>
/// Write() on a live upper dir: what a container does while the walk runs. The changes are made from inside the
/// walk (when the archive writer flushes its buffer, i.e. while it reads a 3 MiB file that sorts first), so each race
/// happens exactly between readdir and the visit of the node it targets.
/// </summary>
[TestFixture]
public class LiveUpperTests : TmpfsFixture
{
    /// <summary>Collects the archive; runs `during` once, at the writer's first flush.</summary>
    sealed class ChangeOnFirstFlush(Action during) : MemoryStream
    {
        bool _done;
        public override void Write(byte[] buffer, int offset, int count)
        {
            if (!_done) { _done = true; during(); }
            base.Write(buffer, offset, count);
        }
    }

    string UpperWithBigFirst()
    {
        var upper = NewDir("upper");
        Sh.Run($"cd {Sh.Q(upper)}; head -c 3145728 /dev/urandom > a-big");
        return upper;
    }

    static byte[] Snapshot(string upper, Action during, params string[] lowers)
    {
        using var output = new ChangeOnFirstFlush(during);
        UpperArchive.Write([upper, .. lowers], output);
        return output.ToArray();
    }

    [Test]
    public void FileShrinkingWhileRead_FailsTheSnapshot()
    {
        var upper = UpperWithBigFirst();
        var ex = Assert.Throws<SnapshotFailedException>(() => Snapshot(upper, () => File.WriteAllBytes(upper + "/a-big", [])));
        Assert.That(ex!.EntryName, Is.EqualTo("./a-big"));
        Assert.That(ex.Message, Does.StartWith("cannot snapshot './a-big': the file shrank while it was read").And.Contain("of the 3145728 bytes"));
    }

    [Test]
    public void FileGrowingWhileRead_IsCutAtItsHeaderSize()
    {
        var upper = UpperWithBigFirst();
        var before = File.ReadAllBytes(upper + "/a-big");
        var archive = Snapshot(upper, () => File.AppendAllText(upper + "/a-big", new string('g', 1 << 20)));
        var dest = NewDir("dst");
        UpperArchive.Extract(new MemoryStream(archive), dest, new ExtractOptions());
        Assert.That(File.ReadAllBytes(dest + "/a-big"), Is.EqualTo(before));
    }

    [Test]
    public void NodesVanishingOrChangingType_AreLeftOutOrTakenAsTheyAreNow()
    {
        var upper = UpperWithBigFirst();
        Sh.Run($"cd {Sh.Q(upper)}; echo 1 > b-gone; mkdir c-gonedir; echo 2 > c-gonedir/x; echo 3 > d-tolink; echo 4 > e-todir; " +
               "echo 5 > f-tofifo; mkdir g-dirtofile; ln -s t h-linktofile; mkfifo i-fifotofile");
        var archive = Snapshot(upper, () => Sh.Run($"cd {Sh.Q(upper)}; rm b-gone; rm -r c-gonedir; rm d-tolink; ln -s /target d-tolink; " +
            "rm e-todir; mkdir e-todir; echo in > e-todir/child; rm f-tofifo; mkfifo f-tofifo; rmdir g-dirtofile; echo now > g-dirtofile; " +
            "rm h-linktofile; echo now > h-linktofile; rm i-fifotofile; echo now > i-fifotofile"));
        var byName = RoundTripTests.Entries(archive).ToDictionary(e => e.Name);
        Assert.That(byName.Keys, Does.Not.Contain("./b-gone").And.Not.Contain("./c-gonedir/"));
        Assert.That((byName["./d-tolink"].Type, byName["./d-tolink"].LinkName), Is.EqualTo((TarEntryType.Symlink, "/target")));
        Assert.That(byName["./e-todir/"].Type, Is.EqualTo(TarEntryType.Directory));
        Assert.That(byName["./e-todir/child"].Type, Is.EqualTo(TarEntryType.File));
        Assert.That(byName["./f-tofifo"].Type, Is.EqualTo(TarEntryType.Fifo));
        Assert.That(byName["./g-dirtofile"].Type, Is.EqualTo(TarEntryType.File));
        Assert.That(byName["./h-linktofile"].Type, Is.EqualTo(TarEntryType.File));
        Assert.That(byName["./i-fifotofile"].Type, Is.EqualTo(TarEntryType.File));
        var dest = NewDir("dst");
        UpperArchive.Extract(new MemoryStream(archive), dest, new ExtractOptions());
        // The root's header was written before the changes moved its mtime.
        Func<string, bool> notRoot = rel => rel != ".";
        Tree.AssertSame(Tree.Describe(upper, mtimeOf: notRoot), Tree.Describe(dest, mtimeOf: notRoot));
    }

    [Test]
    public void DirectoryReplacedWhileItsSubtreeIsWalked_FailsTheSnapshot()
    {
        var upper = NewDir("upper");
        Sh.Run($"cd {Sh.Q(upper)}; mkdir -p d/a-sub; head -c 3145728 /dev/urandom > d/a-sub/big; echo z > d/z");
        var ex = Assert.Throws<SnapshotFailedException>(() => Snapshot(upper, () => Sh.Run($"cd {Sh.Q(upper)}; mv d d-old; mkdir d; echo other > d/z")));
        Assert.That(ex!.Message, Is.EqualTo("cannot snapshot './d/': the directory was moved or replaced while the snapshot walked it"));
    }

    [Test]
    public void StackedLayers_NodeGoneFromTheUpperIsLeftOut_OneGoneFromALowerLayerFails()
    {
        var upper = UpperWithBigFirst();
        var lower = NewDir("lower");
        Sh.Run($"cd {Sh.Q(upper)}; echo 1 > b-gone; mkdir d; echo u > d/u; cd {Sh.Q(lower)}; mkdir d; echo c > c-kept; echo l > d/l");
        var byName = RoundTripTests.Entries(Snapshot(upper, () => File.Delete(upper + "/b-gone"), lower)).ToDictionary(e => e.Name);
        Assert.That(byName.Keys, Does.Not.Contain("./b-gone").And.Contain("./c-kept").And.Contain("./d/u").And.Contain("./d/l"));

        var ex = Assert.Throws<SnapshotFailedException>(() => Snapshot(upper, () => File.Delete(lower + "/c-kept"), lower));
        Assert.That(ex!.Message, Is.EqualTo("cannot snapshot './c-kept': it vanished from lower layer 1, which must not change while it is snapshotted"));
        ex = Assert.Throws<SnapshotFailedException>(() => Snapshot(upper, () => Directory.Move(lower + "/d", lower + "/d-old"), lower));
        Assert.That(ex!.Message, Is.EqualTo("cannot snapshot './d/': it vanished from lower layer 1, which must not change while it is snapshotted"));
    }

    [TestCase(1000)]
    [TestCase(10)]
    public void WriterCopiesAtMostTheDeclaredSize_AndSaysHowMuchItGot(int declared)
    {
        var dir = NewDir("f");
        File.WriteAllBytes(dir + "/f", Enumerable.Repeat((byte)'x', 100).ToArray());
        int fd = Fs.OpenAt(-100, dir + "/f", Fs.O_RDONLY);
        var ms = new MemoryStream();
        int err = -1;
        long copied = -1;
        try
        {
            using var w = new PaxTarWriter(ms);
            w.WriteHeader(new Csshim.TarLayer.TarEntry { Type = TarEntryType.File, Name = "./f", Mode = 0x1A4, Size = declared });
            w.WriteFileData(fd, declared, (e, c) => (err, copied) = (e, c));
            w.Finish();
        }
        finally { Fs.Close(fd); }
        Assert.That((err, copied), Is.EqualTo((0, Math.Min(100L, declared))));
        if (declared > 100) return; // short: the caller fails the snapshot, the bytes are not an archive
        var dest = NewDir("dst");
        UpperArchive.Extract(new MemoryStream(ms.ToArray()), dest, new ExtractOptions());
        Assert.That(File.ReadAllBytes(dest + "/f"), Is.EqualTo(Enumerable.Repeat((byte)'x', declared).ToArray()));
    }

    [Test]
    public void ConcurrentChurn_EverySnapshotRestoresOrNamesTheFileThatShrank()
    {
        var upper = NewDir("upper");
        Sh.Run($"cd {Sh.Q(upper)}; for i in $(seq 1 200); do mkdir -p d$((i % 10)); head -c $((i * 50)) /dev/zero > d$((i % 10))/f$i; done");
        using var stop = new CancellationTokenSource();
        var churn = Task.Run(() =>
        {
            var rnd = new Random(1);
            while (!stop.IsCancellationRequested)
            {
                var d = $"{upper}/d{rnd.Next(10)}";
                var f = $"{d}/f{rnd.Next(1, 201)}";
                try
                {
                    switch (rnd.Next(4))
                    {
                        case 0: File.Delete(f); break;
                        case 1: File.AppendAllText(f, new string('a', rnd.Next(5000))); break;
                        case 2: using (var s = new FileStream(f, FileMode.OpenOrCreate)) s.SetLength(rnd.Next(100)); break;
                        case 3: if (rnd.Next(20) == 0) { Directory.Delete(d, true); Directory.CreateDirectory(d); } break;
                    }
                }
                catch (IOException) { }
            }
        });
        var failures = new List<string>();
        int restored = 0;
        try
        {
            for (int i = 0; i < 30; i++)
            {
                var ms = new MemoryStream();
                try { UpperArchive.Write(upper, ms); }
                catch (SnapshotFailedException ex) { failures.Add(ex.Message); continue; }
                var dest = NewDir("dst");
                var r = UpperArchive.Extract(new MemoryStream(ms.ToArray()), dest, new ExtractOptions());
                if (r.Entries > 1) restored++;
                Directory.Delete(dest, true);
            }
        }
        finally { stop.Cancel(); churn.Wait(); }
        // Truncation is the one change here a snapshot cannot archive truthfully; deletions are left out, growth cut.
        Assert.That(failures, Has.All.Match("^cannot snapshot '\\./d\\d/f\\d+': the file shrank while it was read"));
        Assert.That(restored, Is.GreaterThan(0));
    }
}
