// walrep: timeline history files — PostgreSQL's format (blank lines between generations),
// parsing errors, lookups, and a WalReader that follows a history across a switch segment.
#include "walrep/wal/timeline.h"

#include <gtest/gtest.h>

#include "testing.h"
#include "walrep/wal/wal_reader.h"
#include "walrep/wal/wal_writer.h"

namespace walrep::wal {
namespace {

TEST(TimelineTest, WritesPostgresFormatAndReadsItBack) {
  testing::TempDir dir;
  io::FileSystem* fs = io::DefaultFileSystem();
  ASSERT_TRUE(
      WriteTimelineHistory(fs, dir.path(), 2, 1, Lsn(0xA007220), "no recovery target specified")
          .ok());
  ASSERT_TRUE(
      WriteTimelineHistory(fs, dir.path(), 3, 2, Lsn(0xC000000), "no recovery target specified")
          .ok());
  EXPECT_EQ(*fs->ReadFile(dir.path() + "/00000002.history"),
            "1\t0/A007220\tno recovery target specified\n");
  // The reference's 00000003.history: the parent's lines, a blank line, the new one.
  EXPECT_EQ(*fs->ReadFile(dir.path() + "/00000003.history"),
            "1\t0/A007220\tno recovery target specified\n\n2\t0/C000000\tno recovery target "
            "specified\n");
  EXPECT_FALSE(WriteTimelineHistory(fs, dir.path(), 3, 2, Lsn(1), "again").ok());
  EXPECT_EQ(FindNewestTimeline(fs, dir.path(), 1), 3u);
  EXPECT_EQ(FindNewestTimeline(fs, dir.path(), 3), 3u);

  auto h = ReadTimelineHistory(fs, dir.path(), 3);
  ASSERT_TRUE(h.ok()) << h.status().message();
  ASSERT_EQ(h->size(), 3u);
  EXPECT_EQ((*h)[0], (TimelineEntry{3, Lsn(0xC000000), Lsn()}));
  EXPECT_EQ((*h)[1], (TimelineEntry{2, Lsn(0xA007220), Lsn(0xC000000)}));
  EXPECT_EQ((*h)[2], (TimelineEntry{1, Lsn(), Lsn(0xA007220)}));
  EXPECT_EQ(TimelineOfPoint(*h, Lsn(0x1000000)), 1u);
  EXPECT_EQ(TimelineOfPoint(*h, Lsn(0xA007220)), 2u);
  EXPECT_EQ(TimelineOfPoint(*h, Lsn(0xD000000)), 3u);
  EXPECT_EQ(TimelineSwitchPoint(*h, 1), Lsn(0xA007220));
  EXPECT_FALSE(TimelineSwitchPoint(*h, 3).valid());
  EXPECT_EQ(NextTimeline(*h, 1), 2u);
  // Segment 0xA holds timeline 1 up to the switch and timeline 2 after it: 2 first, then 1.
  EXPECT_EQ(TimelinesForSegment(*h, 0xA, kDefaultSegSize), (std::vector<TimelineId>{2, 1}));
  EXPECT_EQ(TimelinesForSegment(*h, 0x9, kDefaultSegSize), (std::vector<TimelineId>{1}));
  EXPECT_EQ(TimelinesForSegment(*h, 0xC, kDefaultSegSize), (std::vector<TimelineId>{3, 2, 1}));
  EXPECT_EQ(NextTimeline(*h, 3), 0u);
  EXPECT_TRUE(TimelineInHistory(*h, 2));
  EXPECT_FALSE(TimelineInHistory(*h, 4));
  // Timeline 1 never has a file; a missing one is its timeline alone.
  auto one = ReadTimelineHistory(fs, dir.path(), 1);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->size(), 1u);
}

TEST(TimelineTest, RejectsMalformedHistories) {
  EXPECT_FALSE(ParseTimelineHistory("x\t0/1\treason\n", 2).ok());
  EXPECT_FALSE(ParseTimelineHistory("1\tnot-an-lsn\treason\n", 2).ok());
  auto order = ParseTimelineHistory("2\t0/1\ta\n1\t0/2\tb\n", 3);
  ASSERT_FALSE(order.ok());
  EXPECT_EQ(order.status().hint(), "Timeline IDs must be in increasing sequence.");
  EXPECT_FALSE(ParseTimelineHistory("3\t0/1\ta\n", 3).ok());  // a child below its parent
  auto comments = ParseTimelineHistory("# comment\n\n1\t0/3000000\tx\n", 2);
  ASSERT_TRUE(comments.ok());
  EXPECT_EQ(comments->size(), 2u);
}

TEST(TimelineTest, ReaderTakesEachSegmentFromTheNewestTimelineThatHasIt) {
  // Timeline 1 writes segments 1 and 2; timeline 2 starts inside segment 2 with a copy of its
  // head (as a promotion makes it). A reader on timeline 2's history reads segment 1 from
  // timeline 1's file and segment 2 from timeline 2's, across the switch.
  testing::TempDir dir;
  io::FileSystem* fs = io::DefaultFileSystem();
  WalWriterOptions o;
  o.fs = fs;
  o.wal_dir = dir.path();
  o.sysid = 42;
  Lsn start = SegmentStart(1, o.seg_size);
  Lsn last, end;
  std::vector<Lsn> records;
  {
    WalWriter w(o, start, Lsn());
    std::string payload(3000, 'x');
    while (true) {
      auto pos = w.Insert(128, 0, 0, RecordBuilder().SetMainData(payload).BuildBody());
      ASSERT_TRUE(pos.ok());
      records.push_back(pos->start);
      last = pos->start;
      end = pos->end;
      if (SegmentOf(end, o.seg_size) == 2 && end.value() % o.seg_size > 100000) break;
    }
    ASSERT_TRUE(w.Stop().ok());
  }
  // The switch: timeline 2's copy of segment 2 up to `end`, then new records on timeline 2.
  Lsn sw(MaxAlign(end.value()));
  auto src = fs->OpenRandomAccess(dir.path() + "/" + XLogFileName(1, 2, o.seg_size), false);
  ASSERT_TRUE(src.ok());
  std::string head = *(*src)->ReadAt(0, sw.value() % o.seg_size);
  head.resize(o.seg_size, '\0');
  ASSERT_TRUE(fs->WriteFileDurably(dir.path() + "/" + XLogFileName(2, 2, o.seg_size), head).ok());
  ASSERT_TRUE(fs->Rename(dir.path() + "/" + XLogFileName(1, 2, o.seg_size),
                         dir.path() + "/" + XLogFileName(1, 2, o.seg_size) + ".partial")
                  .ok());
  ASSERT_TRUE(WriteTimelineHistory(fs, dir.path(), 2, 1, sw, "no recovery target specified").ok());
  o.tli = 2;
  {
    WalWriter w(o, sw, last);
    for (int i = 0; i < 5; i++) {
      auto pos = w.Insert(128, 0, 0, RecordBuilder().SetMainData("after").BuildBody());
      ASSERT_TRUE(pos.ok());
      records.push_back(pos->start);
    }
    ASSERT_TRUE(w.Stop().ok());
  }
  auto h = ReadTimelineHistory(fs, dir.path(), 2);
  ASSERT_TRUE(h.ok());
  WalReader r(fs, dir.path(), *h);
  Lsn prev;
  Lsn pos = records.front();
  for (Lsn want : records) {
    auto rec = r.ReadRecord(pos, prev);
    ASSERT_TRUE(rec.ok()) << pos.ToString() << ": " << rec.status().message();
    EXPECT_EQ(rec->lsn, want);
    prev = rec->lsn;
    pos = r.NextRecordLsn(*rec);
  }
  EXPECT_EQ(r.file_timeline(), 2u);
  EXPECT_FALSE(r.ReadRecord(pos, prev).ok());  // the end of WAL
  // On timeline 1's history alone the WAL ends where segment 2's file is missing.
  WalReader old(fs, dir.path(), TimelineId{1});
  EXPECT_FALSE(old.ReadRecord(records.back()).ok());
}

}  // namespace
}  // namespace walrep::wal
