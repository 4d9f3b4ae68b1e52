using Csshim.TarLayer.Posix;
using Csshim.TarLayer;
using NUnit.Framework;

namespace Csshim.Tests;

/// <summary>Deep trees: the walk holds no fd per level, and names a restore could not create fail the snapshot.</summary>
[TestFixture]
public class SnapshotLimitsTests : TmpfsFixture
{
    /// <summary>levels nested directories "d", each holding a file, below a new upper dir.</summary>
    string DeepUpper(int levels)
    {
        var upper = NewDir("upper");
        Sh.Run($"cd {Sh.Q(upper)}; for i in $(seq 1 {levels}); do mkdir d; cd d; echo $i > f; done");
        return upper;
    }

    [Test]
    public void TwoHundredLevels_SnapshotFully_WithSixtyFourFds()
    {
        var upper = DeepUpper(200);
        var archivePath = Path.Combine(NewDir("archive"), "a.tar");
        // A child process (this assembly's Main) with a real RLIMIT_NOFILE of 64, as `ulimit -n 64` gives a container engine.
        var self = Path.Combine(AppContext.BaseDirectory, "TarLayer.Tests.dll");
        var output = Sh.Run($"ulimit -n 64; dotnet {Sh.Q(self)} snapshot {Sh.Q(upper)} {Sh.Q(archivePath)}");
        Assert.That(output, Does.StartWith("nofile 64\n"), "an fd per level (200) could never fit below 64");
        var archive = File.ReadAllBytes(archivePath);
        var names = RoundTripTests.Entries(archive).Select(e => e.Name).ToList();
        Assert.That(names, Has.Count.EqualTo(1 + 2 * 200));
        Assert.That(names, Does.Contain("./" + string.Concat(Enumerable.Repeat("d/", 200)) + "f"));
        var dest = NewDir("dst");
        UpperArchive.Extract(new MemoryStream(archive), dest, new ExtractOptions());
        Tree.AssertSame(Tree.Describe(upper), Tree.Describe(dest));
    }

    [Test]
    public void NoFdLeft_FailsNamingThePathAndTheReason()
    {
        var upper = DeepUpper(20);
        var open = FdLimit.OpenFds();
        // Three fds free below the limit: the root and the directory being read fit, a third open on the way down does not.
        var free = Enumerable.Range(0, 1 << 16).Where(n => !open.Contains(n)).Take(4).ToArray();
        var ex = Assert.Throws<SnapshotFailedException>(() => FdLimit.With((ulong)free[3], () =>
        {
            UpperArchive.Write(upper, Stream.Null);
            return 0;
        }));
        Assert.That(ex!.Message, Does.Match(@"^cannot snapshot '\./(d/)+(f)?': (open|readdir): Too many open files$"));
        Assert.That(ex.EntryName, Does.StartWith("./d/"));
    }

    [Test]
    public void FiveThousandLevels_AreRefusedAtPathMax()
    {
        var upper = NewDir("upper");
        int fd = Fs.OpenAt(-100, upper, Fs.O_RDONLY | Fs.O_DIRECTORY);
        try
        {
            for (int i = 0; i < 5000; i++)
            {
                Assert.That(Fs.MkdirAt(fd, "d", 0x1ED), Is.Zero, $"mkdir level {i}");
                int next = Fs.OpenAt(fd, "d", Fs.O_RDONLY | Fs.O_DIRECTORY | Fs.O_NOFOLLOW);
                Fs.Close(fd);
                fd = next;
                Assert.That(fd, Is.GreaterThanOrEqualTo(0), $"open level {i}");
            }
        }
        finally { Fs.Close(fd); }

        var ex = Assert.Throws<SnapshotFailedException>(() => UpperArchive.Write(upper, Stream.Null));
        // "./" + "d/" * n is the first directory name of 4096 bytes or more.
        Assert.That(ex!.EntryName, Is.EqualTo("./" + string.Concat(Enumerable.Repeat("d/", 2047))));
        Assert.That(ex.Message, Does.StartWith("cannot snapshot './d/d/d/").And.Contain("…': the path exceeds PATH_MAX (4096 bytes)"));
        Assert.That(ex.Message.Length, Is.LessThan(400), "the message shows the start of the path, not all of it");
    }
}
