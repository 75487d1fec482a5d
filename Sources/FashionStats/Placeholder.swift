public enum StatsPlaceholder {}
