package profile

import (
	"time"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// Defaults returns the profile every tenant starts from: the seed system's
// limits (10 files per window, 4 GB per file; 500 messages and 400 MB per
// 5 s window) and conservative scaling. A tenant's YAML only needs what
// differs, plus its tenant id and sink.
func Defaults() Profile {
	return Profile{
		Batch: Batch{
			MaxFileSize:       4_000_000_000,
			MaxGzipRatio:      100,
			MaxRecordSize:     1 << 20,
			MaxFilesPerWindow: 10,
			Window:            Duration(time.Minute),
			Formats:           []Format{FormatCSV, FormatJSON, FormatNDJSON},
			Gzip:              true,
			CSV:               CSV{Delimiter: ",", Header: true},
		},
		Stream: Stream{
			MaxMessagesPerWindow: 500,
			MaxBytesPerWindow:    400_000_000,
			Window:               Duration(5 * time.Second),
			JetStream: JetStream{
				MaxBytes:    10_000_000_000,
				MaxMessages: 10_000_000,
				MaxAge:      Duration(7 * 24 * time.Hour),
			},
		},
		Storage: Storage{MaxBytes: 100_000_000_000},
		Scaling: Scaling{
			Min:                     0,
			Max:                     4,
			TargetBacklogPerReplica: 1000,
			IdleBeforeZero:          Duration(5 * time.Minute),
		},
		Sink: Sink{UnknownFields: UnknownReject},
		Apps: Apps{Batch: AppPlatform, Stream: AppPlatform},
	}
}

// datasetDefaults gives each declared dataset what Defaults gives the
// profile's own sink and apps, since a YAML list item starts from zero.
func (p *Profile) datasetDefaults() {
	if p.QualityChecker.Function != "" && p.QualityChecker.Sample == 0 {
		p.QualityChecker.Sample = contract.CheckDefaultSample
	}
	for i := range p.Datasets {
		d := &p.Datasets[i]
		if d.Sink.UnknownFields == "" {
			d.Sink.UnknownFields = UnknownReject
		}
		if d.Apps.Batch == "" {
			d.Apps.Batch = AppPlatform
		}
		if d.Apps.Stream == "" {
			d.Apps.Stream = AppPlatform
		}
		if d.QualityChecker.Function != "" && d.QualityChecker.Sample == 0 {
			d.QualityChecker.Sample = contract.CheckDefaultSample
		}
		for j := range d.Fanout {
			if d.Fanout[j].Form == "" {
				d.Fanout[j].Form = FormTyped
			}
		}
	}
}
